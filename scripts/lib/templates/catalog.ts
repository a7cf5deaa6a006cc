// The Tekton catalog: every Task and Pipeline in tekton/<kind>/<name>/<version>/ with its README,
// samples/ (runs to copy) and tests/ (what the catalog's e2e harness applies: resources.yaml, then
// run.yaml, which must succeed). The tests name three Services the harness provides (an S3, an OCI
// registry holding library/busybox, a Model Registry); test/tekton-catalog.test.ts runs every
// tests/run.yaml here with those names pointed at local servers.
import type { StepName } from '../../../src/contract/contract.js';
import { catalogFile, catalogFolder, type CatalogKind } from './catalog-layout.js';
import { TEKTON_POD_TEMPLATE, VOLUMES, toYaml } from './common.js';
import { pipelineRun, pipelineRunOnePod, pipelineRunScaleOut, taskRunSample } from './samples.js';
import {
  ONE_POD_PIPELINE_NAME,
  PART_WORKSPACE,
  PIPELINE_NAME,
  SCALE_OUT_PIPELINE_NAME,
  TEKTON_STEPS,
  catalogIndexReadme,
  onePodPipelineReadme,
  pipelineReadme,
  scaleOutPipelineReadme,
  taskName,
  taskParamNames,
  taskReadme,
  taskWorkspaces,
  tektonOnePodPipeline,
  tektonPipeline,
  tektonScaleOutPipeline,
  tektonTask,
} from './tekton.js';

type Obj = Record<string, unknown>;

/** The Services a catalog test run talks to; the test harness provides them. */
export const CATALOG_TEST_SERVICES = {
  s3: 'http://model-sync-test-s3:7480',
  registry: 'model-sync-test-registry:5000',
  modelRegistry: 'http://model-sync-test-model-registry:8080',
} as const;
/** The test S3's keys, bucket and model: two files under models/tiny/ in the bucket models. */
export const CATALOG_TEST_S3 = { accessKeyId: 'test-access-key-id', secretAccessKey: 'test-secret-access-key', bucket: 'models', prefix: 'models/tiny/' } as const;
const TEST_SOURCE_SECRET = 'model-sync-test-source';

/**
 * What each Task's test runs: the Task after the steps that leave on the workspace what it reads
 * (as tektoncd/catalog tests run git-clone before a build). push after plan runs once per part.
 */
const TASK_TEST_CHAINS: Record<StepName, StepName[]> = {
  preflight: ['preflight'],
  fetch: ['fetch'],
  package: ['fetch', 'package'],
  push: ['fetch', 'package', 'push'],
  register: ['fetch', 'package', 'push', 'register'],
  // Nothing failed and nothing was created: it settles nothing and says so.
  'mark-failed': ['mark-failed'],
  all: ['all'],
  plan: ['plan'],
  assemble: ['plan', 'push', 'assemble'],
};

/** The test parameters of a run moving the test model to `<registry>/models/<name>:1.0.0` as a new RegisteredModel `<name>`. */
function testParams(name: string): Record<string, string> {
  return {
    'source-type': 's3',
    'source-aws-key': CATALOG_TEST_S3.prefix,
    'destination-type': 'oci',
    'destination-oci-uri': `${CATALOG_TEST_SERVICES.registry}/models/${name}:1.0.0`,
    'destination-oci-base-image': `${CATALOG_TEST_SERVICES.registry}/library/busybox:latest`,
    'destination-oci-enable-tls-verify': 'false',
    'model-upload-intent': 'create_model',
    'registry-server-address': CATALOG_TEST_SERVICES.modelRegistry,
    'registry-is-secure': 'false',
    'source-secret': TEST_SOURCE_SECRET,
    parts: '2',
    'failure-reason': 'catalog test: nothing failed',
  };
}

function testResources(name: string): Obj[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: TEST_SOURCE_SECRET },
      stringData: {
        AWS_ACCESS_KEY_ID: CATALOG_TEST_S3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CATALOG_TEST_S3.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_S3_ENDPOINT: CATALOG_TEST_SERVICES.s3,
        AWS_S3_BUCKET: CATALOG_TEST_S3.bucket,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: testMetadataName(name) },
      data: { 'RegisteredModel.name': name, 'ModelVersion.name': '1.0.0', 'ModelArtifact.name': name, 'ModelArtifact.model_format_name': 'onnx' },
    },
  ];
}

const testMetadataName = (name: string) => `${name}-test-metadata`;

/** Workspace bindings of a test run: the claim, the test Secret, the metadata ConfigMap, an emptyDir per part. */
function testBinding(workspace: string, name: string): Obj | undefined {
  switch (workspace) {
    case VOLUMES.workspace:
      return { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } };
    case VOLUMES.sourceCredentials:
      return { secret: { secretName: TEST_SOURCE_SECRET } };
    case VOLUMES.metadata:
      return { configMap: { name: testMetadataName(name) } };
    case PART_WORKSPACE:
      return { emptyDir: {} };
    default:
      return undefined; // the optional ones stay unbound
  }
}

function bindings(names: string[], name: string): Obj[] {
  return names.flatMap((w) => {
    const b = testBinding(w, name);
    return b ? [{ name: w, ...b }] : [];
  });
}

function runParams(declared: Iterable<string>, values: Record<string, string>): Obj[] {
  const want = new Set(declared);
  return Object.entries(values).filter(([n]) => want.has(n)).map(([n, value]) => ({ name: n, value }));
}

/** tests/run.yaml of a Task: a TaskRun, or a Pipeline of its chain and a PipelineRun of it. */
function taskTestRun(step: StepName): Obj[] {
  const name = `${taskName(step)}-test`;
  const values = testParams(name);
  const chain = TASK_TEST_CHAINS[step];
  if (chain.length === 1) {
    return [
      {
        apiVersion: 'tekton.dev/v1',
        kind: 'TaskRun',
        metadata: { name: `${name}-run` },
        spec: { taskRef: { name: taskName(step) }, params: runParams(taskParamNames(step), values), podTemplate: TEKTON_POD_TEMPLATE, workspaces: bindings(taskWorkspaces(step).map((w) => w.name), name) },
      },
    ];
  }
  const scaleOut = chain.includes('plan');
  const used = new Set<string>();
  const workspaces = new Map<string, boolean>();
  const tasks = chain.map((s, i) => {
    const overrides: Record<string, string> = s === 'register' ? { 'model-uri': `$(tasks.${scaleOut ? 'assemble' : 'push'}.results.model-uri)` } : {};
    const params = taskParamNames(s)
      .filter((p) => p in overrides || (p in values && !(scaleOut && s === 'push' && p === 'part')))
      .map((p) => {
        if (!(p in overrides)) used.add(p);
        return { name: p, value: overrides[p] ?? `$(params.${p})` };
      });
    const ws = taskWorkspaces(s).map((w) => {
      const target = scaleOut && s === 'push' && w.name === VOLUMES.workspace ? PART_WORKSPACE : w.name;
      workspaces.set(target, workspaces.get(target) ?? w.optional === true);
      return { name: w.name, workspace: target };
    });
    return {
      name: s,
      taskRef: { name: taskName(s), kind: 'Task' },
      ...(i > 0 ? { runAfter: [chain[i - 1]] } : {}),
      params,
      ...(scaleOut && s === 'push' ? { matrix: { params: [{ name: 'part', value: '$(tasks.plan.results.parts[*])' }] } } : {}),
      workspaces: ws,
    };
  });
  const declared = [...used].sort();
  return [
    {
      apiVersion: 'tekton.dev/v1',
      kind: 'Pipeline',
      metadata: { name },
      spec: {
        params: declared.map((p) => ({ name: p, type: 'string' })),
        workspaces: [...workspaces].map(([w, optional]) => ({ name: w, ...(optional ? { optional: true } : {}) })),
        tasks,
      },
    },
    {
      apiVersion: 'tekton.dev/v1',
      kind: 'PipelineRun',
      metadata: { name: `${name}-run` },
      spec: { pipelineRef: { name }, params: runParams(declared, values), taskRunTemplate: { podTemplate: TEKTON_POD_TEMPLATE }, workspaces: bindings([...workspaces.keys()], name) },
    },
  ];
}

/** tests/run.yaml of a Pipeline: a PipelineRun of it. */
function pipelineTestRun(pipeline: Obj): Obj[] {
  const pipelineName = (pipeline.metadata as { name: string }).name;
  const name = `${pipelineName}-test`;
  const spec = pipeline.spec as { params: Array<{ name: string }>; workspaces: Array<{ name: string }> };
  return [
    {
      apiVersion: 'tekton.dev/v1',
      kind: 'PipelineRun',
      metadata: { name: `${name}-run` },
      spec: {
        pipelineRef: { name: pipelineName },
        params: runParams(spec.params.map((p) => p.name), testParams(name)),
        taskRunTemplate: { podTemplate: TEKTON_POD_TEMPLATE },
        workspaces: bindings(spec.workspaces.map((w) => w.name), name),
      },
    },
  ];
}

/** What a Task's tests/run.yaml runs, for its README. */
function taskTestDescription(step: StepName): string {
  const chain = TASK_TEST_CHAINS[step];
  if (chain.length === 1) return 'a TaskRun of this Task alone';
  const before = chain.slice(0, -1).map((s) => (s === 'push' && chain.includes('plan') ? `${taskName(s)} once per part (matrix)` : taskName(s)));
  return `a Pipeline running ${before.join(', ')}, then this Task, and a PipelineRun of it`;
}

/** The folder of one resource: `<name>.yaml`, README.md, samples/, tests/. */
function folder(kind: CatalogKind, name: string, resource: Obj, readme: string, samples: Record<string, Obj>, run: Obj[], testName: string): Record<string, string> {
  const dir = catalogFolder(kind, name);
  const files: Record<string, string> = {
    [catalogFile(kind, name)]: toYaml([resource]),
    [`${dir}/README.md`]: readme,
    [`${dir}/tests/resources.yaml`]: toYaml(testResources(testName)),
    [`${dir}/tests/run.yaml`]: toYaml(run),
  };
  for (const [file, doc] of Object.entries(samples)) files[`${dir}/samples/${file}`] = toYaml([doc]);
  return files;
}

export function tektonCatalogFiles(): Record<string, string> {
  const files: Record<string, string> = { 'tekton/README.md': catalogIndexReadme() };
  for (const s of TEKTON_STEPS) Object.assign(files, folder('task', taskName(s), tektonTask(s), taskReadme(s, taskTestDescription(s)), { 'taskrun.yaml': taskRunSample(s) }, taskTestRun(s), `${taskName(s)}-test`));
  const pipelines: Array<[string, Obj, string, Obj]> = [
    [PIPELINE_NAME, tektonPipeline(), pipelineReadme('a PipelineRun of this Pipeline (create_model)'), pipelineRun()],
    [ONE_POD_PIPELINE_NAME, tektonOnePodPipeline(), onePodPipelineReadme('a PipelineRun of this Pipeline (streaming, create_model)'), pipelineRunOnePod()],
    [SCALE_OUT_PIPELINE_NAME, tektonScaleOutPipeline(), scaleOutPipelineReadme(`a PipelineRun of this Pipeline in ${testParams('').parts} parts (create_model)`), pipelineRunScaleOut()],
  ];
  for (const [name, pipeline, readme, sample] of pipelines) Object.assign(files, folder('pipeline', name, pipeline, readme, { 'pipelinerun.yaml': sample }, pipelineTestRun(pipeline), `${name}-test`));
  return files;
}
