// Runs the scale-out variants of the generated templates through test/support/template-runner.ts
// with the built CLI: the Argo WorkflowTemplate's entrypoint `scale-out` (the sample Workflow's
// fields over the template's, as Argo merges a workflowTemplateRef) and the Tekton Pipeline
// model-sync-pipeline-scale-out. A configuration error needs only the CLI; the end-to-end runs need
// the local S3, registry, busybox base and Model Registry stand-in (skipped with a message otherwise)
// and the real plan, push --part and assemble.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, REPO_ROOT, tempDir } from '../dev/cli.js';
import { catalogFile } from '../scripts/lib/templates/catalog-layout.js';
import { parseAll } from './support/template-schemas.js';
import { e2eObjects, e2eParams, e2eSkip, startE2eServers, type E2eServers } from './support/template-e2e.js';
import { runArgoWorkflowTemplate, runTektonPipeline, type EngineRun, type PodRun, type WorkspaceBinding } from './support/template-runner.js';

type Obj = Record<string, any>;
const load = (rel: string) => parseAll(readFileSync(path.join(REPO_ROOT, rel), 'utf8'), rel) as Obj[];
const workflowTemplate = load('workflows/model-sync-workflowtemplate.yaml')[0]!;
const scaleOutWorkflow = load('samples/argo/workflow-scale-out.yaml')[0]!;
const { workflowTemplateRef: _ref, arguments: _args, ...scaleOutOverrides } = scaleOutWorkflow.spec as Obj;
const scaleOutTemplate = { ...workflowTemplate, spec: { ...workflowTemplate.spec, ...scaleOutOverrides } };
const onePodWorkflow = load('samples/argo/workflow-one-pod.yaml')[0]!;
const { workflowTemplateRef: _ref1, arguments: _args1, ...onePodOverrides } = onePodWorkflow.spec as Obj;
const onePodTemplate = { ...workflowTemplate, spec: { ...workflowTemplate.spec, ...onePodOverrides } };
const pipeline = load(catalogFile('pipeline', 'model-sync-pipeline-scale-out'))[0]!;
const tektonTasks = ['preflight', 'plan', 'push', 'assemble', 'register', 'mark-failed'].map((s) => load(catalogFile('task', `model-sync-${s}`))[0]!);
const sampleSecrets = load('samples/secrets.yaml');

let root: string;
before(async () => {
  assert.ok(existsSync(CLI), 'build first: npx tsc -p tsconfig.json');
  root = await tempDir('ms-templates-scale-out-');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function describeRun(run: EngineRun): string {
  const line = (p: PodRun) => `${p.name}[${p.index ?? '-'}]#${p.attempt} exit ${p.exitCode}: ${p.termination || p.stderr.split('\n').filter(Boolean).slice(-2).join(' | ')}`;
  return [...run.pods.map(line), ...run.exitPods.map((p) => `exit handler ${line(p)}`)].join('\n');
}

// A bad configuration (source-type s3 without a key) fails preflight with exit code 2.
const badParams = {
  'source-type': 's3',
  'destination-oci-uri': '127.0.0.1:1/models/never:1',
  'registry-server-address': 'http://127.0.0.1:1',
  'registry-is-secure': 'false',
  'model-artifact-id': '6',
  parts: '3',
};

test('scale-out (argo entrypoint scale-out, tekton model-sync-pipeline-scale-out): a configuration error stops at preflight, and mark-failed runs with the cause', async () => {
  assert.equal(scaleOutTemplate.spec.entrypoint, 'scale-out');
  const argo = await runArgoWorkflowTemplate({ template: scaleOutTemplate, parameters: badParams }, { root, objects: sampleSecrets });
  assert.equal(argo.status, 'Failed', describeRun(argo));
  assert.deepEqual(argo.pods.map((p) => [p.name, p.exitCode]), [['preflight', 2]], 'exit code 2 is not retried and neither plan nor a part runs');
  assert.equal(argo.pods[0]!.env.MODEL_SYNC_PARTS, '3', 'preflight is told the number of parts');
  assert.match(argo.pods[0]!.termination, /source-aws-key/);
  assert.equal(argo.exitPods[0]?.template, 'mark-failed', 'the same exit handler');
  const failures = JSON.parse(argo.exitPods[0]!.env.MODEL_SYNC_FAILURE_REASON!) as Obj[];
  assert.match(failures[0]!.message, /exit code 2.*source-aws-key/);
  assert.equal(argo.exitPods[0]!.env.MODEL_SYNC_STORAGE_PATH, argo.workspace);

  const workspaces: Record<string, WorkspaceBinding> = {
    workspace: { volumeClaimTemplate: true },
    'part-workspace': { emptyDir: true },
    'source-credentials': { secret: 'model-sync-source' },
    'destination-credentials': { secret: 'model-sync-destination' },
    'registry-credentials': { secret: 'model-sync-registry' },
  };
  const tekton = await runTektonPipeline({ pipeline, tasks: tektonTasks, params: badParams, workspaces }, { root, objects: sampleSecrets });
  assert.equal(tekton.status, 'Failed', describeRun(tekton));
  assert.deepEqual(tekton.pods.map((p) => [p.name, p.exitCode]), [['preflight', 2]]);
  assert.equal(tekton.pods[0]!.env.MODEL_SYNC_PARTS, '3');
  assert.equal(tekton.exitPods[0]?.name, 'mark-failed');
  assert.match(tekton.exitPods[0]!.env.MODEL_SYNC_FAILURE_REASON!, /preflight=Failed plan=None push=None assemble=None register=None/);
  assert.equal(tekton.exitPods[0]!.env.MODEL_SYNC_STORAGE_PATH, tekton.workspace);
});

// ---------------------------------------------------------------------------------------------
// A failing part, with a stand-in for the CLI (the generated templates as they are): it records
// each run, plan lists three parts, and push fails for one part with the exit code asked for.

const FAKE_CLI = `
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const step = process.argv[2];
const env = process.env;
mkdirSync(env.MODEL_SYNC_RESULTS_DIR, { recursive: true });
const put = (name, value) => writeFileSync(path.join(env.MODEL_SYNC_RESULTS_DIR, name), value);
appendFileSync(env.FAKE_LOG, JSON.stringify({ step, part: env.MODEL_SYNC_PART ?? '' }) + '\\n');
if (step === 'plan') put('parts', JSON.stringify(['1/3', '2/3', '3/3']));
if (step === 'push' && env.MODEL_SYNC_PART === env.FAKE_FAILING_PART) {
  writeFileSync(env.TERMINATION_MESSAGE_PATH, 'part ' + env.MODEL_SYNC_PART + ' failed');
  process.exit(Number(env.FAKE_EXIT));
}
if (step === 'assemble') put('model-uri', 'oci://registry.example.com/m:1');
`;

async function fakeOptions(name: string, exitCode: number) {
  const cli = path.join(root, 'fake-cli.mjs');
  await writeFile(cli, FAKE_CLI);
  const log = path.join(root, `${name}.log`);
  await writeFile(log, '');
  return { log, opts: { root, objects: sampleSecrets, cli, env: { FAKE_LOG: log, FAKE_FAILING_PART: '2/3', FAKE_EXIT: String(exitCode) } } };
}

async function runsOf(log: string): Promise<string[]> {
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => {
    const r = JSON.parse(l) as { step: string; part: string };
    return r.part ? `${r.step} ${r.part}` : r.step;
  });
}

const goodParams = { ...badParams, 'source-aws-key': 'models/m/' };

test('scale-out: a part failing with a retryable code is retried (the others run once); assemble and register never run, mark-failed names the part', async () => {
  const argoFake = await fakeOptions('argo-retry', 7);
  const argo = await runArgoWorkflowTemplate({ template: scaleOutTemplate, parameters: goodParams }, argoFake.opts);
  assert.equal(argo.status, 'Failed', describeRun(argo));
  const argoRuns = (await runsOf(argoFake.log)).sort();
  assert.deepEqual(argoRuns, ['mark-failed', 'plan', 'preflight', 'push 1/3', 'push 2/3', 'push 2/3', 'push 2/3', 'push 2/3', 'push 3/3'], 'integrity (7) is retried 3 times');
  const failures = JSON.parse(argo.exitPods[0]!.env.MODEL_SYNC_FAILURE_REASON!) as Obj[];
  assert.deepEqual(failures.map((f) => f.displayName), ['push-part(1:2/3)']);
  assert.match(failures[0]!.message, /exit code 7.*part 2\/3 failed/);

  const tektonFake = await fakeOptions('tekton-retry', 7);
  const workspaces: Record<string, WorkspaceBinding> = { workspace: { volumeClaimTemplate: true }, 'part-workspace': { emptyDir: true } };
  const tekton = await runTektonPipeline({ pipeline, tasks: tektonTasks, params: goodParams, workspaces }, tektonFake.opts);
  assert.equal(tekton.status, 'Failed', describeRun(tekton));
  // Tekton has no retries (they would ignore exit codes): the part runs once.
  assert.deepEqual((await runsOf(tektonFake.log)).sort(), ['mark-failed', 'plan', 'preflight', 'push 1/3', 'push 2/3', 'push 3/3'], 'Tekton does not retry');
  assert.match(tekton.exitPods[0]!.env.MODEL_SYNC_FAILURE_REASON!, /plan=Succeeded push=Failed assemble=None register=None/);
});

test('scale-out (argo): a part failing with a non-retryable code is not retried', async () => {
  const fake = await fakeOptions('argo-final', 2);
  const argo = await runArgoWorkflowTemplate({ template: scaleOutTemplate, parameters: goodParams }, fake.opts);
  assert.equal(argo.status, 'Failed', describeRun(argo));
  assert.deepEqual((await runsOf(fake.log)).sort(), ['mark-failed', 'plan', 'preflight', 'push 1/3', 'push 2/3', 'push 3/3']);
});

// ---------------------------------------------------------------------------------------------
// End to end: S3 -> plan -> 3 parts at once -> assemble -> Model Registry stand-in, through each engine.

let servers: E2eServers | undefined;

const objects = (metadataName: string, modelName: string) => e2eObjects(servers!, metadataName, modelName);
// Each file a layer of its own (modelcar-own-layer-bytes 1): three parts, none empty.
const params = (repo: string, metadataName: string) => e2eParams(servers!, 'models/scale/', repo, metadataName, { 'modelcar-own-layer-bytes': '1' });

/** The digest `model-sync all` gives for the same model and base (one-pod variant), once. */
let reference: string | undefined;
async function referenceDigest(): Promise<string> {
  if (reference) return reference;
  const run = await runArgoWorkflowTemplate({ template: onePodTemplate, parameters: params('models/scale-reference', 'meta-reference') }, { root, objects: objects('meta-reference', 'scale-reference') });
  assert.equal(run.status, 'Succeeded', describeRun(run));
  reference = run.outputs['image-digest']!;
  assert.match(reference, /^sha256:[0-9a-f]{64}$/);
  return reference;
}

/** The parts ran as separate processes alive at the same time, each on a workspace of its own. */
function assertPartsInParallel(run: EngineRun, partStep: string): void {
  const parts = run.pods.filter((p) => p.name === partStep && p.exitCode === 0);
  assert.deepEqual(parts.map((p) => p.env.MODEL_SYNC_PART).sort(), ['1/3', '2/3', '3/3'], describeRun(run));
  assert.equal(new Set(parts.map((p) => p.pid)).size, 3, 'three processes');
  const latestStart = Math.max(...parts.map((p) => p.startedAt!));
  const earliestEnd = Math.min(...parts.map((p) => p.endedAt!));
  assert.ok(latestStart < earliestEnd, `the parts overlap in time (last start ${latestStart}, first end ${earliestEnd})`);
  const workspaces = parts.map((p) => p.env.MODEL_SYNC_STORAGE_PATH!);
  assert.equal(new Set(workspaces).size, 3, 'a workspace per part');
  for (const [i, ws] of workspaces.entries()) {
    assert.notEqual(ws, run.workspace, 'no part on the shared claim');
    const part = parts[i]!.env.MODEL_SYNC_PART!.replace('/', '-of-');
    assert.ok(existsSync(path.join(ws, '.model-sync', 'parts', `${part}.json`)), `part ${part} recorded its result on its own workspace`);
  }
}

async function assertLanded(run: EngineRun, repo: string, modelName: string): Promise<void> {
  assert.equal(run.status, 'Succeeded', describeRun(run));
  assert.deepEqual(run.exitPods.map((p) => p.name), [], 'no mark-failed after success');
  const uri = `oci://${servers!.registry.host}/${repo}:1.0.0`;
  assert.equal(run.outputs['model-uri'], uri);
  const digest = run.outputs['image-digest'];
  assert.equal(digest, await referenceDigest(), 'plan → parts → assemble gives the image `all` gives');
  const manifest = await fetch(`${servers!.registry.url}/v2/${repo}/manifests/1.0.0`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers.get('docker-content-digest'), digest);
  const api = `${servers!.standinUrl.replace(/\/$/, '')}/api/model_registry/v1alpha3`;
  const models = (await (await fetch(`${api}/registered_models?pageSize=100`)).json()) as { items: Obj[] };
  const model = models.items.find((m) => m.name === modelName);
  assert.ok(model, `RegisteredModel ${modelName} not in the stand-in`);
  const artifact = (await (await fetch(`${api}/model_artifacts/${run.outputs['model-artifact-id']}`)).json()) as Obj;
  assert.equal(artifact.uri, uri);
  assert.equal(artifact.state, 'LIVE');
}

test('end to end through the scale-out variants: S3 -> plan -> 3 parts at once -> assemble -> Model Registry', async (t) => {
  const skipReason = e2eSkip();
  if (skipReason) return t.skip(`end-to-end run skipped: ${skipReason}`);
  // Four files: three parts, none empty.
  servers = await startE2eServers(root, {
    'models/scale/config.json': '{"model_type": "tiny"}',
    'models/scale/tokenizer.json': '{"vocab": {"a": 1}}',
    'models/scale/weights/a.bin': Buffer.alloc(200_000, 3),
    'models/scale/weights/b.bin': Buffer.alloc(300_000, 7),
  });
  t.after(() => servers!.stop());

  await t.test('argo', async () => {
    const run = await runArgoWorkflowTemplate(
      { template: scaleOutTemplate, parameters: { ...params('models/scale-argo', 'meta-argo'), parts: '3' } },
      { root, objects: objects('meta-argo', 'scale-argo') },
    );
    await assertLanded(run, 'models/scale-argo', 'scale-argo');
    assert.deepEqual([...new Set(run.pods.map((p) => p.name))], ['preflight', 'plan', 'push-part', 'assemble', 'register']);
    const plan = run.pods.find((p) => p.name === 'plan')!;
    assert.deepEqual(JSON.parse(plan.outputs.parts!), ['1/3', '2/3', '3/3']);
    assertPartsInParallel(run, 'push-part');
    const register = run.pods.find((p) => p.name === 'register')!;
    assert.equal(register.env.MODEL_SYNC_MODEL_URI, run.pods.find((p) => p.name === 'assemble')!.outputs['model-uri'], "assemble's URI passed to register");
  });

  await t.test('tekton', async () => {
    const { 'metadata-configmap': _unused, ...rest } = params('models/scale-tekton', 'meta-tekton');
    const run = await runTektonPipeline(
      {
        pipeline,
        tasks: tektonTasks,
        params: { ...rest, parts: '3' },
        workspaces: {
          workspace: { volumeClaimTemplate: true },
          'part-workspace': { emptyDir: true },
          'source-credentials': { secret: 'model-sync-source' },
          metadata: { configMap: 'meta-tekton' },
        },
      },
      { root, objects: objects('meta-tekton', 'scale-tekton') },
    );
    await assertLanded(run, 'models/scale-tekton', 'scale-tekton');
    assert.deepEqual([...new Set(run.pods.map((p) => p.name))], ['preflight', 'plan', 'push', 'assemble', 'register']);
    assertPartsInParallel(run, 'push');
  });
});
