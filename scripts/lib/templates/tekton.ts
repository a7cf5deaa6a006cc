// Tekton: a v1 Task per step (model-sync-<step>), an all-in-one Task (model-sync, step `all`), a
// Pipeline chaining the step Tasks on one workspace with a `finally` mark-failed, and a one-pod
// Pipeline running the all-in-one Task with the same `finally`, and a scale-out Pipeline (plan,
// push fanned out with `matrix` over the plan's parts, assemble, register). Results go to
// /tekton/results through MODEL_SYNC_RESULTS_DIR; credentials come from optional read-only
// workspaces bound to Secrets and from secretKeyRef env; no param enum (alpha in Tekton).
import type { StepName } from '../../../src/contract/contract.js';
import { EXIT, type ErrorKind } from '../../../src/errors.js';
import { catalogFile, catalogFolder, catalogVersion } from './catalog-layout.js';
import {
  ARRAY_RESULTS,
  CHAIN,
  COMMAND,
  SCALE_OUT_CHAIN,
  SCALE_OUT_ONLY_PARAMS,
  TEKTON_MATRIX_MIN_VERSION,
  TEKTON_MIN_VERSION,
  NON_RETRYABLE_EXIT_CODES,
  NO_SIDECAR_ANNOTATIONS,
  OBJECT_PARAMS,
  imagePlatforms,
  SOURCE_SECRET_ENV,
  sourceSecretEnv,
  PATHS,
  UI_LABELS,
  VOLUMES,
  catalog,
  containerSecurityContext,
  defaultString,
  describeParam,
  exposedParams,
  imageRef,
  objectsOf,
  packageLicense,
  packageVersion,
  resources,
  step,
  templateParams,
  wiringOf,
} from './common.js';

type Obj = Record<string, unknown>;

export const TEKTON_STEPS: StepName[] = ['preflight', 'fetch', 'package', 'push', 'register', 'mark-failed', 'all', 'plan', 'assemble'];
export const PIPELINE_NAME = 'model-sync-pipeline';

export function taskName(name: StepName): string {
  return name === 'all' ? 'model-sync' : `model-sync-${name}`;
}

function secretParamsOf(name: StepName): { name: string; default: string; description: string }[] {
  const o = objectsOf(step(name));
  return (['source', 'destination', 'registry'] as const).filter((k) => o[k]).map((k) => ({
    ...OBJECT_PARAMS[k],
    description: `Name of the Secret read through secretKeyRef (optional keys). ${OBJECT_PARAMS[k].description.replace(/ Mounted read-only at .*$/, '')} Bind the same Secret to the ${k}-credentials workspace for its files.`,
  }));
}

function taskParams(name: StepName): Obj[] {
  const params: Obj[] = exposedParams(step(name), 'tekton').map((p) => {
    const def = defaultString(p);
    return {
      name: p.name,
      type: 'string',
      description: describeParam(p),
      ...(p.required ? {} : { default: def ?? '' }),
    };
  });
  for (const s of secretParamsOf(name)) params.push({ name: s.name, type: 'string', description: s.description, default: s.default });
  return params;
}

/** The names of the params a step's Task declares (what a run of it may set). */
export function taskParamNames(name: StepName): string[] {
  return (taskParams(name) as Array<{ name: string }>).map((p) => p.name);
}

export interface WorkspaceDecl {
  name: string;
  description: string;
  mountPath?: string;
  readOnly?: boolean;
  optional?: boolean;
}

export function taskWorkspaces(name: StepName): WorkspaceDecl[] {
  const o = objectsOf(step(name));
  const ws: WorkspaceDecl[] = [
    {
      name: VOLUMES.workspace,
      description:
        name === 'all'
          ? 'Model storage for the run (an emptyDir is enough: everything happens in one pod).'
          : 'Model storage shared by the steps (model/, image/, .model-sync/): bind the same PVC (volumeClaimTemplate) to every task.',
    },
  ];
  const cred = (wsName: string, mountPath: string, description: string) =>
    ws.push({ name: wsName, description, mountPath, readOnly: true, optional: true });
  if (o.source) cred(VOLUMES.sourceCredentials, PATHS.sourceCredentials, 'Secret with source credentials: S3 folder keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_S3_ENDPOINT, AWS_S3_BUCKET), .dockerconfigjson (set source-oci-credentials-path to /opt/creds/source/.dockerconfigjson) or URI.');
  if (o.destination) cred(VOLUMES.destinationCredentials, PATHS.destinationCredentials, 'Secret with destination credentials: .dockerconfigjson (set destination-oci-credentials-path to /opt/creds/destination/.dockerconfigjson) or S3 folder keys.');
  if (o.registry) cred(VOLUMES.registryCredentials, PATHS.registryCredentials, 'Secret with Model Registry files, e.g. ca.crt (set registry-custom-ca to /opt/creds/registry/ca.crt).');
  if (o.metadata) cred(VOLUMES.metadata, PATHS.metadata, 'ConfigMap with the model metadata in dot notation (RegisteredModel.name, ModelVersion.name, ...).');
  // Bound to a ConfigMap: its ca.crt is a CA for every host; `items` (path <host[:port]>/ca.crt) give one host its own.
  if (o.sourceOciCerts) cred(VOLUMES.sourceOciCerts, PATHS.sourceOciCerts, 'ConfigMap with CAs for the source registry, the source-oci-cert-dir certs.d folder: a key ca.crt is a CA for every host; items with path <host[:port]>/ca.crt give one host its own.');
  if (o.destinationOciCerts) cred(VOLUMES.destinationOciCerts, PATHS.destinationOciCerts, 'ConfigMap with CAs for the destination registry (and a base image on its host), the destination-oci-cert-dir certs.d folder: a key ca.crt is a CA for every host; items with path <host[:port]>/ca.crt give one host its own.');
  return ws;
}

function stepEnv(name: StepName): Obj[] {
  const env: Obj[] = [];
  for (const p of templateParams(step(name))) {
    const w = wiringOf(p, 'tekton');
    if (w.kind === 'param') env.push({ name: p.env, value: `$(params.${p.name})` });
    else if (w.kind === 'fixed') env.push({ name: p.env, value: w.value });
    else env.push({ name: p.env, valueFrom: { secretKeyRef: { name: `$(params.${OBJECT_PARAMS[w.side].name})`, key: w.key, optional: true } } });
  }
  if (objectsOf(step(name)).source) env.push(...sourceSecretEnv(`$(params.${OBJECT_PARAMS.source.name})`));
  env.push({ name: 'TMPDIR', value: PATHS.tmp });
  return env;
}

/**
 * Tekton Hub categories (from its fixed list; it has no machine-learning one). Artifact Hub, which
 * lists catalogs now that Tekton Hub is gone, reads its own category from `artifacthub.io/category`.
 */
export const TEKTON_CATEGORIES = ['Publishing', 'Storage'];
export const ARTIFACT_HUB_CATEGORY = 'ai-machine-learning';

/** The catalog's annotations (tekton.dev/*) and Artifact Hub's (artifacthub.io/*) on every Task and Pipeline. */
function annotations(displayName: string, minVersion = TEKTON_MIN_VERSION): Obj {
  return {
    'tekton.dev/pipelines.minVersion': minVersion,
    'tekton.dev/categories': TEKTON_CATEGORIES.join(', '),
    'tekton.dev/tags': 'model-registry, kserve, modelcar, oci, s3, huggingface',
    'tekton.dev/displayName': displayName,
    'tekton.dev/platforms': imagePlatforms().join(','),
    'artifacthub.io/category': ARTIFACT_HUB_CATEGORY,
    'artifacthub.io/license': packageLicense(),
    'artifacthub.io/provider': 'model-sync',
    'artifacthub.io/changes': `- kind: added\n  description: ${displayName}, version ${catalogVersion()} (model-sync ${packageVersion()})\n`,
  };
}

/** The catalog version label: the folder's version (tekton/<kind>/<name>/<version>/). */
function labels(): Obj {
  return { 'app.kubernetes.io/name': 'model-sync', 'app.kubernetes.io/version': catalogVersion() };
}

export function tektonTask(name: StepName): Obj {
  const contract = step(name);
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'Task',
    metadata: {
      name: taskName(name),
      labels: labels(),
      // Tekton copies a Task's annotations onto its TaskRuns' pods, so the Istio one reaches every pod.
      annotations: { ...annotations(name === 'all' ? 'model-sync (all steps)' : `model-sync ${name}`), ...NO_SIDECAR_ANNOTATIONS },
    },
    spec: {
      description: `${contract.summary}\n\n${contract.description}`,
      params: taskParams(name),
      workspaces: taskWorkspaces(name),
      results: contract.results.map((r) => ({ name: r.name, type: ARRAY_RESULTS[name]?.includes(r.name) ? 'array' : 'string', description: r.description })),
      volumes: [{ name: VOLUMES.tmp, emptyDir: {} }],
      stepTemplate: { securityContext: containerSecurityContext(), computeResources: resources() },
      steps: [
        {
          name,
          image: imageRef(),
          imagePullPolicy: 'IfNotPresent',
          command: [COMMAND],
          args: [name],
          env: stepEnv(name),
          volumeMounts: [{ name: VOLUMES.tmp, mountPath: PATHS.tmp }],
        },
      ],
    },
  };
}

/** Pipeline params: those the pipeline tasks read, once, in catalog order, with the Tasks' declarations. */
function pipelineParams(pipelineTasks: Obj[]): Obj[] {
  const used = new Set([...JSON.stringify(pipelineTasks).matchAll(/\$\(params\.([\w.-]+)\)/g)].map((m) => m[1]!));
  const byName = new Map<string, Obj>();
  for (const s of TEKTON_STEPS) for (const p of taskParams(s) as { name: string }[]) if (used.has(p.name)) byName.set(p.name, p);
  const order = [...catalog().keys(), ...Object.values(OBJECT_PARAMS).map((o) => o.name)];
  return order.filter((n) => byName.has(n)).map((n) => byName.get(n)!);
}

/** register's inputs: the URI from the task that tagged the model, the ids from preflight. */
function registerInputs(from: 'push' | 'assemble'): Record<string, string> {
  return {
    'model-uri': `$(tasks.${from}.results.model-uri)`,
    'model-id': '$(tasks.preflight.results.registered-model-id)',
    'model-version-id': '$(tasks.preflight.results.model-version-id)',
    'model-artifact-id': '$(tasks.preflight.results.model-artifact-id)',
  };
}

/** The per-step Pipeline leaves the scale-out settings empty (preflight would count only the base image's room). */
function withoutScaleOut(name: StepName): Record<string, string> {
  return Object.fromEntries((taskParams(name) as { name: string }[]).filter((p) => SCALE_OUT_ONLY_PARAMS.has(p.name)).map((p) => [p.name, '']));
}

function pipelineTask(name: StepName, overrides: Record<string, string> = {}): Obj {
  const params = (taskParams(name) as { name: string }[]).map((p) => ({ name: p.name, value: overrides[p.name] ?? `$(params.${p.name})` }));
  const workspaces = taskWorkspaces(name).map((w) => ({ name: w.name, workspace: w.name }));
  return { name, taskRef: { name: taskName(name), kind: 'Task' }, params, workspaces };
}

/** The `finally` task of both Pipelines: mark-failed when a task failed, with a reason naming each task's status. */
function markFailedFinally(taskNames: readonly string[]): Obj {
  const failureReason = 'PipelineRun $(context.pipelineRun.name) failed; task status: ' + taskNames.map((t) => `${t}=$(tasks.${t}.status)`).join(' ');
  return {
    ...pipelineTask('mark-failed', { 'failure-reason': failureReason }),
    // Ids come from params and from the workspace: results of a failed task would make finally skip.
    when: [{ input: '$(tasks.status)', operator: 'in', values: ['Failed'] }],
  };
}

export function tektonPipeline(): Obj {
  const tasks: Obj[] = [];
  let previous: string | undefined;
  for (const name of CHAIN) {
    const overrides: Record<string, string> = { ...withoutScaleOut(name), ...(name === 'register' ? registerInputs('push') : {}) };
    tasks.push({
      ...pipelineTask(name, overrides),
      ...(previous ? { runAfter: [previous] } : {}),
      ...(name === 'package' ? { when: [{ input: '$(params.destination-type)', operator: 'in', values: ['oci'] }] } : {}),
      // No Tekton `retries`: they do not look at exit codes, so they would rerun bad input (2-6) as
      // well; model-sync retries transient faults in process (--retry-attempts).
    });
    previous = name;
  }
  const finallyTask = markFailedFinally(CHAIN);
  return pipelineDoc(PIPELINE_NAME, 'model-sync pipeline', {
    description:
      'Move a model into an OCI registry (as a KServe modelcar) or S3 and register it in Kubeflow Model Registry.\n\n' +
      'preflight, fetch, package (destination-type oci only), push and register share the `workspace` workspace; ' +
      'when a task fails, the finally task mark-failed records the failure so no ModelArtifact stays PENDING.',
    params: pipelineParams([...tasks, finallyTask]),
    workspaces: taskWorkspaces('preflight').map((w) => ({ name: w.name, description: w.description, ...(w.optional ? { optional: true } : {}) })),
    results: [
      { name: 'model-uri', description: 'URI recorded on the ModelArtifact.', value: '$(tasks.register.results.model-uri)' },
      { name: 'image-digest', description: 'Digest of the pushed image index (empty for S3).', value: '$(tasks.push.results.image-digest)' },
      { name: 'registered-model-id', description: 'RegisteredModel id.', value: '$(tasks.register.results.registered-model-id)' },
      { name: 'model-version-id', description: 'ModelVersion id.', value: '$(tasks.register.results.model-version-id)' },
      { name: 'model-artifact-id', description: 'ModelArtifact id.', value: '$(tasks.register.results.model-artifact-id)' },
    ],
    tasks,
    finally: [finallyTask],
  });
}

export const ONE_POD_PIPELINE_NAME = 'model-sync-pipeline-one-pod';

/**
 * The one-pod variant: the all-in-one Task `model-sync` (which streams the model from the source
 * into the destination when it can, --stream) and the same `finally` mark-failed. A backstop only:
 * `all` records a failure itself, unless its pod is killed outright.
 */
export function tektonOnePodPipeline(): Obj {
  const all = pipelineTask('all');
  const finallyTask = markFailedFinally(['all']);
  const result = (name: string, description: string) => ({ name, description, value: `$(tasks.all.results.${name})` });
  return pipelineDoc(ONE_POD_PIPELINE_NAME, 'model-sync pipeline (one pod)', {
    description:
      'Move a model into an OCI registry (as a KServe modelcar) or S3 and register it in Kubeflow Model Registry, in one pod.\n\n' +
      'The Task model-sync runs `model-sync all`, which streams each file from the source into the destination where it can ' +
      '(param stream), so the `workspace` holds only records; when a task fails, the finally task mark-failed records the failure ' +
      'so no ModelArtifact stays PENDING.',
    params: pipelineParams([all, finallyTask]),
    workspaces: taskWorkspaces('all').map((w) => ({
      name: w.name,
      description:
        w.name === VOLUMES.workspace
          ? 'Storage of the run: records and results only while all streams; the model too when it stages (archives, OCI sources, stream false). Bind a small PVC (volumeClaimTemplate) so that the finally task mark-failed reads what all recorded.'
          : w.description,
      ...(w.optional ? { optional: true } : {}),
    })),
    results: [
      result('model-uri', 'URI recorded on the ModelArtifact.'),
      result('image-digest', 'Digest of the pushed image index (empty for S3).'),
      result('registered-model-id', 'RegisteredModel id.'),
      result('model-version-id', 'ModelVersion id.'),
      result('model-artifact-id', 'ModelArtifact id.'),
    ],
    tasks: [all],
    finally: [finallyTask],
  });
}

export const SCALE_OUT_PIPELINE_NAME = 'model-sync-pipeline-scale-out';
/** The scale-out Pipeline's workspace for the parts: bound to an emptyDir, one per part TaskRun. */
export const PART_WORKSPACE = VOLUMES.partWorkspace;

/**
 * The scale-out variant: preflight (told the number of parts), plan, push as a matrix over plan's
 * `parts` array result (one TaskRun per part, each on the `part-workspace` emptyDir of its own
 * pod), assemble, register with assemble's URI; the same `finally` mark-failed.
 */
export function tektonScaleOutPipeline(): Obj {
  const tasks: Obj[] = [];
  let previous: string | undefined;
  for (const name of SCALE_OUT_CHAIN) {
    const base = pipelineTask(name, name === 'register' ? registerInputs('assemble') : {});
    const pt: Obj = { ...base, ...(previous ? { runAfter: [previous] } : {}) };
    if (name === 'push') {
      // A param is given in `params` or in `matrix`, never both.
      pt.params = (base.params as Obj[]).filter((p) => p.name !== 'part');
      pt.matrix = { params: [{ name: 'part', value: '$(tasks.plan.results.parts[*])' }] };
      pt.workspaces = (base.workspaces as Obj[]).map((w) => (w.name === VOLUMES.workspace ? { ...w, workspace: PART_WORKSPACE } : w));
    }
    tasks.push(pt);
    previous = name;
  }
  const finallyTask = markFailedFinally(SCALE_OUT_CHAIN);
  const shared = taskWorkspaces('preflight').map((w) => ({
    name: w.name,
    description:
      w.name === VOLUMES.workspace
        ? 'Records of preflight, plan, assemble and register (kilobytes; the model never lands here): a small PVC (volumeClaimTemplate), so that the finally task mark-failed reads what they recorded.'
        : w.description,
    ...(w.optional ? { optional: true } : {}),
  }));
  return pipelineDoc(
    SCALE_OUT_PIPELINE_NAME,
    'model-sync pipeline (scale-out)',
    {
      description:
        'Move a model into an OCI registry (as a KServe modelcar) or S3 with several pods at once, and register it in Kubeflow Model Registry.\n\n' +
        'plan splits the model into `parts` parts; push runs once per part (a matrix over the parts result of plan), each part streaming its files from the source into the destination on a `part-workspace` of its own; ' +
        'assemble builds and tags the image from the parts; register records it. When a task fails, the finally task mark-failed records the failure so no ModelArtifact stays PENDING.',
      params: pipelineParams([...tasks, finallyTask]),
      workspaces: [
        ...shared.slice(0, 1),
        {
          name: PART_WORKSPACE,
          description:
            'Workspace of each part TaskRun (records of one part, no model): bind an emptyDir, so that every part pod has its own and the parts can run on any node. A PVC would have to be ReadWriteMany, or the affinity assistant would put every part on one node.',
        },
        ...shared.slice(1),
      ],
      results: [
        { name: 'model-uri', description: 'URI recorded on the ModelArtifact.', value: '$(tasks.register.results.model-uri)' },
        { name: 'image-digest', description: 'Digest of the assembled image index (empty for S3).', value: '$(tasks.assemble.results.image-digest)' },
        { name: 'registered-model-id', description: 'RegisteredModel id.', value: '$(tasks.register.results.registered-model-id)' },
        { name: 'model-version-id', description: 'ModelVersion id.', value: '$(tasks.register.results.model-version-id)' },
        { name: 'model-artifact-id', description: 'ModelArtifact id.', value: '$(tasks.register.results.model-artifact-id)' },
      ],
      tasks,
      finally: [finallyTask],
    },
    TEKTON_MATRIX_MIN_VERSION,
  );
}

function pipelineDoc(name: string, displayName: string, spec: Obj, minVersion?: string): Obj {
  return { apiVersion: 'tekton.dev/v1', kind: 'Pipeline', metadata: { name, labels: labels(), annotations: annotations(displayName, minVersion) }, spec };
}

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** README of one Task, in the catalog's layout; `tests` says what its tests/run.yaml runs. */
export function taskReadme(name: StepName, tests: string): string {
  const task = tektonTask(name) as { spec: { params: Obj[]; workspaces: WorkspaceDecl[]; results: Obj[] } };
  const contract = step(name);
  const params = task.spec.params.map((p) => `| \`${String(p.name)}\` | ${p.default === undefined ? '*required*' : `\`${String(p.default)}\``} | ${mdCell(String(p.description))} |`);
  const ws = task.spec.workspaces.map((w) => `| \`${w.name}\` | ${w.optional ? 'optional, read-only' : 'required'} | ${w.mountPath ?? `/workspace/${w.name}`} | ${mdCell(w.description)} |`);
  const results = task.spec.results.map((r) => `| \`${String(r.name)}\` | ${mdCell(String(r.description))} |`);
  const secrets = templateParams(step(name)).filter((p) => wiringOf(p, 'tekton').kind === 'secret').map((p) => {
    const w = wiringOf(p, 'tekton') as { side: string; key: string };
    return `| \`${p.env}\` | Secret \`$(params.${w.side}-secret)\`, key \`${w.key}\` (optional) |`;
  });
  if (objectsOf(step(name)).source) for (const key of SOURCE_SECRET_ENV) secrets.push(`| \`${key}\` | Secret \`$(params.source-secret)\`, key \`${key}\` (optional) |`);
  return `<!-- Generated by \`npm run generate\` from steps/${name}.yaml. Do not edit by hand. -->
# ${taskName(name)}

${contract.summary}

${contract.description}

Install: \`kubectl apply -f ${catalogFile('task', taskName(name))}\` (Tekton Pipelines >= 0.50, \`tekton.dev/v1\`), or
refer to it from a run with the git resolver (\`taskRef: {resolver: git, params: [url, revision, pathInRepo: ${catalogFile('task', taskName(name))}]}\`).
Image: \`${imageRef()}\` (runs \`${COMMAND} ${name}\` as user 65532, read-only root filesystem).
Non-root steps writing to a PVC need \`taskRunTemplate.podTemplate.securityContext.fsGroup: 65532\` (or \`podTemplate\` on a TaskRun).
A Task cannot turn off service link variables (\`<SERVICE>_PORT=tcp://...\`, which a Service named \`model-sync-*\` would
turn into \`MODEL_SYNC_*\` settings): set \`podTemplate.enableServiceLinks: false\` on the run, as the samples do.

## Parameters

| Name | Default | Description |
|---|---|---|
${params.join('\n')}

## Workspaces

| Name | Binding | Mount path | Description |
|---|---|---|---|
${ws.join('\n')}

## Credentials from Secrets (environment)

${secrets.length ? `| Variable | From |\n|---|---|\n${secrets.join('\n')}` : 'None.'}

## Results

Written by the CLI to \`/tekton/results\` (\`MODEL_SYNC_RESULTS_DIR\`), each a few bytes (the limit is 4096 for all).

| Name | Description |
|---|---|
${results.join('\n')}

## Platforms

${imagePlatforms().join(', ')} (what the image build produces; \`tekton.dev/platforms\` says the same).

## Exit codes

${exitCodeLines()}

${samplesAndTests('taskrun.yaml', tests)}
`;
}

/** The catalog's samples/ and tests/ folders, as a README section. */
function samplesAndTests(sample: string, what: string): string {
  return `## Samples and tests

In this folder:

- \`samples/${sample}\`: a run to copy. Names and addresses are examples; the Secrets and ConfigMaps are
  those of \`samples/secrets.yaml\`.
- \`tests/\`: what the catalog's end-to-end harness applies. First \`resources.yaml\` (the test's source
  Secret and metadata ConfigMap), then \`run.yaml\`, which must succeed:
  ${what}.
  The runs expect three Services in the test namespace: \`model-sync-test-s3\` (an S3 on port 7480 with the bucket \`models\` holding
  files under \`models/tiny/\`), \`model-sync-test-registry\` (an OCI registry on port 5000, plain HTTP, holding
  \`library/busybox:latest\`) and \`model-sync-test-model-registry\` (Kubeflow Model Registry on port 8080).
  \`npm test -- tekton-catalog\` runs every \`run.yaml\` of this repository with those names pointed at local servers.`;
}

/** tekton/README.md: what the catalog holds and how to install from it. */
export function catalogIndexReadme(): string {
  const row = (kind: 'task' | 'pipeline', name: string, what: string) => `| [\`${name}\`](${kind}/${name}/${catalogVersion()}/README.md) | ${what} |`;
  return `<!-- Generated by \`npm run generate\`. Do not edit by hand. -->
# model-sync for Tekton

The Tasks and Pipelines in the Tekton catalog layout: \`task/<name>/<version>/\` and \`pipeline/<name>/<version>/\`,
each holding \`<name>.yaml\`, a README, \`samples/\` and \`tests/\`. The version is ${catalogVersion()} (model-sync
${packageVersion()}), also in the label \`app.kubernetes.io/version\`. Artifact Hub indexes such a layout (add the
repository as \`.../tekton/task\` and \`.../tekton/pipeline\`); the \`artifacthub.io/*\` annotations give its
category, license and changes.

| Task | |
|---|---|
${TEKTON_STEPS.map((s) => row('task', taskName(s), mdCell(step(s).summary))).join('\n')}

| Pipeline | |
|---|---|
${row('pipeline', PIPELINE_NAME, 'preflight, fetch, package, push, register on one claim; finally mark-failed.')}
${row('pipeline', ONE_POD_PIPELINE_NAME, '\`model-sync all\` in one pod, streaming where it can; finally mark-failed.')}
${row('pipeline', SCALE_OUT_PIPELINE_NAME, 'plan, push once per part (matrix), assemble, register; finally mark-failed.')}

Install every Task and Pipeline (only the resource files, not the samples or tests):

\`\`\`bash
${installCommand([...TEKTON_STEPS.map((s) => catalogFile('task', taskName(s))), ...[PIPELINE_NAME, ONE_POD_PIPELINE_NAME, SCALE_OUT_PIPELINE_NAME].map((p) => catalogFile('pipeline', p))])}
\`\`\`

or \`kubectl apply -k deploy/overlays/tekton\` (docs/install.md), which installs the same resources with a
ServiceAccount, a claim and Secret skeletons.
`;
}

/** One kubectl apply of the given files, a -f per file. */
function installCommand(files: string[]): string {
  return `kubectl apply ${files.map((f) => `-f ${f}`).join(' \\\n  ')}`;
}

const EXIT_MEANINGS: Record<Exclude<ErrorKind, 'ok'>, string> = {
  internal: 'internal',
  config: 'configuration',
  precondition: 'registry precondition',
  auth: 'credentials rejected',
  notFound: 'not found',
  unsafe: 'unsafe path',
  integrity: 'integrity',
  noSpace: 'no space left on the volume',
  transient: 'transient',
};

/** The exit codes split as NON_RETRYABLE_EXIT_CODES splits them (the Job and Argo samples use the same list). */
function exitCodeLines(): string {
  const kinds = (Object.keys(EXIT_MEANINGS) as Array<keyof typeof EXIT_MEANINGS>).sort((a, b) => EXIT[a] - EXIT[b]);
  const final = new Set<number>(NON_RETRYABLE_EXIT_CODES);
  const list = (retry: boolean) => kinds.filter((k) => final.has(EXIT[k]) !== retry).map((k) => `${EXIT[k]} ${EXIT_MEANINGS[k]}`).join(', ');
  return `${list(false)}: retrying cannot help. ${list(true)}: a retry may succeed and resumes on the workspace.
The pipeline tasks have no Tekton \`retries\`: Tekton retries every failure whatever its exit code, so a retry would
rerun bad input too. model-sync retries transient faults itself (\`retry-attempts\`, with back-off), inside the step,
and a step that still fails exits non-zero, so the pipeline never goes on to register; rerun the PipelineRun for anything else (bound
to the same claim, it resumes).`;
}

/** A Pipeline's file and the files of the Tasks it runs. */
function pipelineFiles(pipeline: string, steps: StepName[]): string[] {
  return [...[...new Set(steps)].map((s) => catalogFile('task', taskName(s))), catalogFile('pipeline', pipeline)];
}

export function pipelineReadme(tests = 'a PipelineRun of this Pipeline'): string {
  return `<!-- Generated by \`npm run generate\`. Do not edit by hand. -->
# ${PIPELINE_NAME}

Chains ${CHAIN.map((s) => `\`${taskName(s)}\``).join(' → ')} on one \`workspace\`;
\`model-sync-package\` runs only when \`destination-type\` is \`oci\`. When any task fails, the \`finally\` task
\`mark-failed\` (guarded by \`$(tasks.status)\` = \`Failed\`) records the failure in Model Registry, reading ids from
the params and from the workspace (never from results of a failed task).

Install:

\`\`\`bash
${installCommand(pipelineFiles(PIPELINE_NAME, [...CHAIN, 'mark-failed']))}
\`\`\`

Run: \`${catalogFolder('pipeline', PIPELINE_NAME)}/samples/pipelinerun.yaml\` or \`tkn pipeline start ${PIPELINE_NAME} ...\` (see docs/templates.md).

Pipeline results: \`model-uri\`, \`image-digest\`, \`registered-model-id\`, \`model-version-id\`, \`model-artifact-id\`.
Labels the Model Registry UI looks for go on the PipelineRun (\`metadata.labels\`, which Tekton copies to TaskRuns and pods),
among them \`modelregistry.kubeflow.org/model-registry-name\`; the UI lists only batch/v1 Jobs, so runs do not appear in its
transfer-job list. Set \`taskRunTemplate.podTemplate.enableServiceLinks: false\` on the PipelineRun (a Pipeline or Task cannot).

${samplesAndTests('pipelinerun.yaml', tests)}
`;
}

export function scaleOutPipelineReadme(tests = 'a PipelineRun of this Pipeline'): string {
  return `<!-- Generated by \`npm run generate\`. Do not edit by hand. -->
# ${SCALE_OUT_PIPELINE_NAME}

Chains ${SCALE_OUT_CHAIN.map((s) => `\`${taskName(s)}\``).join(' → ')}, with \`${taskName('push')}\` fanned out by a
\`matrix\` over the \`parts\` array result of \`${taskName('plan')}\` (\`$(tasks.plan.results.parts[*])\`, e.g.
\`["1/3","2/3","3/3"]\`): one TaskRun per part, all at once, each running \`model-sync push --part I/N\`, which streams
that part's layers from the source straight into the destination registry and leaves a small result there for
\`assemble\`. \`${taskName('assemble')}\` then writes config, manifests and index from the parts' results (the same image,
digest for digest, as \`model-sync all\`) and \`${taskName('register')}\` records \`$(tasks.assemble.results.model-uri)\`.
\`${taskName('preflight')}\` receives \`parts\` too, so that it counts only the base image's room on the workspace.

Workspaces: \`workspace\` is shared by preflight, plan, assemble, register and the \`finally\` task \`mark-failed\`, one
after the other; it holds records only (a \`1Gi\` claim in the sample). \`${PART_WORKSPACE}\` is what each part TaskRun
mounts as its workspace: bind it to an \`emptyDir\` (as \`samples/pipelinerun.yaml\` does), so that
every part pod gets its own and needs no shared volume. The parts meet through the destination registry, not a volume;
a ReadWriteOnce PVC there would either not attach to several nodes or, with the affinity assistant, pin every part to
one node.

Requires Tekton Pipelines >= ${TEKTON_MATRIX_MIN_VERSION} (\`tekton.dev/pipelines.minVersion\`): \`matrix\` is beta there, fed by
a whole array result; where \`enable-api-fields\` is \`stable\`, set it to \`beta\`. The number of TaskRuns one matrix may
create is capped by \`default-max-matrix-combinations-count\` (config-defaults, 256 by default). Keep \`parts\` at or below
256: plan's results then take about 2.6 KB of the 4096 bytes a TaskRun's results may hold; above about 350 parts the
\`parts\` list alone no longer fits (unless results come from sidecar logs, \`results-from: sidecar-logs\`).

When any task fails, the \`finally\` task \`mark-failed\` (guarded by \`$(tasks.status)\` = \`Failed\`) records the failure.

Install:

\`\`\`bash
${installCommand(pipelineFiles(SCALE_OUT_PIPELINE_NAME, [...SCALE_OUT_CHAIN, 'mark-failed']))}
\`\`\`

Run: \`${catalogFolder('pipeline', SCALE_OUT_PIPELINE_NAME)}/samples/pipelinerun.yaml\` (see docs/templates.md).

Pipeline results: \`model-uri\`, \`image-digest\`, \`registered-model-id\`, \`model-version-id\`, \`model-artifact-id\`.
Set \`taskRunTemplate.podTemplate.enableServiceLinks: false\` and \`taskRunTemplate.podTemplate.securityContext.fsGroup: 65532\`
on the PipelineRun (a Pipeline or Task cannot).

${samplesAndTests('pipelinerun.yaml', tests)}
`;
}

export function onePodPipelineReadme(tests = 'a PipelineRun of this Pipeline'): string {
  return `<!-- Generated by \`npm run generate\`. Do not edit by hand. -->
# ${ONE_POD_PIPELINE_NAME}

Runs the all-in-one Task \`${taskName('all')}\` (\`model-sync all\`) in one pod on one \`workspace\`. With \`stream\` true (the
default), \`all\` moves each file from the source straight into the destination registry or bucket when the source can
be read as a stream (S3, hf://, a single http(s) file, local/PVC) and the destination is a registry or S3: the model never
lands on the workspace, which then holds only records and results, so a small claim (\`1Gi\` in the sample) does, and no
ReadWriteMany volume is needed. Otherwise (tar/zip archives, OCI sources, \`oci:\` layout destinations, or \`stream\`
false) \`all\` stages the model on the workspace as the per-step \`${PIPELINE_NAME}\` does, and the workspace must hold
it. The log says which path it took and why.

When the task fails, the \`finally\` task \`mark-failed\` (guarded by \`$(tasks.status)\` = \`Failed\`) records the failure
in Model Registry, reading ids from the params and from the workspace. \`all\` records a failure itself; the \`finally\`
task covers a pod killed before it could.

Install:

\`\`\`bash
${installCommand(pipelineFiles(ONE_POD_PIPELINE_NAME, ['all', 'mark-failed']))}
\`\`\`

Run: \`${catalogFolder('pipeline', ONE_POD_PIPELINE_NAME)}/samples/pipelinerun.yaml\` (see docs/templates.md).

Pipeline results: \`model-uri\`, \`image-digest\`, \`registered-model-id\`, \`model-version-id\`, \`model-artifact-id\`.
Set \`taskRunTemplate.podTemplate.enableServiceLinks: false\` and \`taskRunTemplate.podTemplate.securityContext.fsGroup: 65532\`
on the PipelineRun (a Pipeline or Task cannot).

${samplesAndTests('pipelinerun.yaml', tests)}
`;
}
