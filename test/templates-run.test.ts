// Runs the generated templates: the Argo WorkflowTemplate and the Tekton Pipelines (per step, and
// their one-pod variants), interpreted by
// test/support/template-runner.ts with the built CLI, on one temp workspace per run.
// Failure paths need only the CLI; the end-to-end runs need the local S3, registry, busybox base
// and Model Registry stand-in (skipped with a message while any of them is missing).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { CLI, REPO_ROOT, tempDir } from '../dev/cli.js';
import { parseAll } from './support/template-schemas.js';
import { e2eObjects as templateE2eObjects, e2eParams as templateE2eParams, e2eSkip, startE2eServers, type E2eServers } from './support/template-e2e.js';
import { runArgoWorkflowTemplate, runTektonPipeline, type EngineRun, type PodRun, type WorkspaceBinding } from './support/template-runner.js';
import { catalogFile } from '../scripts/lib/templates/catalog-layout.js';

type Obj = Record<string, any>;
const load = (rel: string) => parseAll(readFileSync(path.join(REPO_ROOT, rel), 'utf8'), rel) as Obj[];
const workflowTemplate = load('workflows/model-sync-workflowtemplate.yaml')[0]!;
const pipeline = load(catalogFile('pipeline', 'model-sync-pipeline'))[0]!;
const tektonTasks = ['preflight', 'fetch', 'package', 'push', 'register', 'mark-failed'].map((s) => load(catalogFile('task', `model-sync-${s}`))[0]!);
// The one-pod variants: the sample Workflow's fields over the template's, as Argo merges a
// workflowTemplateRef (entrypoint one-pod, its own small claim); the Tekton Pipeline of the all-in-one Task.
const onePodWorkflow = load('samples/argo/workflow-one-pod.yaml')[0]!;
const { workflowTemplateRef: _ref, arguments: _args, ...onePodOverrides } = onePodWorkflow.spec as Obj;
const onePodTemplate = { ...workflowTemplate, spec: { ...workflowTemplate.spec, ...onePodOverrides } };
const onePodPipeline = load(catalogFile('pipeline', 'model-sync-pipeline-one-pod'))[0]!;
const onePodTasks = [load(catalogFile('task', 'model-sync'))[0]!, load(catalogFile('task', 'model-sync-mark-failed'))[0]!];
const sampleSecrets = load('samples/secrets.yaml');

let root: string;
before(async () => {
  assert.ok(existsSync(CLI), 'build first: npx tsc -p tsconfig.json');
  root = await tempDir('ms-templates-run-');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const tektonWorkspaces: Record<string, WorkspaceBinding> = {
  workspace: { volumeClaimTemplate: true },
  'source-credentials': { secret: 'model-sync-source' },
  'destination-credentials': { secret: 'model-sync-destination' },
  'registry-credentials': { secret: 'model-sync-registry' },
};

function describeRun(run: EngineRun): string {
  const line = (p: PodRun) => `${p.name}#${p.attempt} exit ${p.exitCode}: ${p.termination || p.stderr.split('\n').filter(Boolean).slice(-2).join(' | ')}`;
  return [...run.pods.map(line), ...run.exitPods.map((p) => `exit handler ${line(p)}`)].join('\n');
}

// A bad configuration (source-type s3 without a key) fails preflight with exit code 2.
const badParams = {
  'source-type': 's3',
  'destination-oci-uri': '127.0.0.1:1/models/never:1',
  'registry-server-address': 'http://127.0.0.1:1',
  'registry-is-secure': 'false',
  'model-artifact-id': '6',
};

/** A private CA for the destination registry, as `kubectl create configmap --from-file=ca.crt=...` makes it. */
const destinationCerts = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'model-sync-destination-oci-certs' }, data: { 'ca.crt': '-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n' } };

test('argo: a configuration error stops the chain without retries, and the exit handler runs mark-failed with the cause', async () => {
  const run = await runArgoWorkflowTemplate({ template: workflowTemplate, parameters: badParams }, { root, objects: [...sampleSecrets, destinationCerts] });
  assert.equal(run.status, 'Failed', describeRun(run));
  assert.deepEqual(run.pods.map((p) => [p.name, p.exitCode]), [['preflight', 2]], 'exit code 2 is not retried and nothing runs after');
  assert.match(run.pods[0]!.termination, /source-aws-key/);
  // Wiring seen by the process: Secrets through secretKeyRef, paths rewritten to the run's folders.
  const env = run.pods[0]!.env;
  assert.equal(env.MODEL_SYNC_REGISTRY_USER_TOKEN, 'replace-with-a-model-registry-token');
  assert.equal(env.MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID, 'minioadmin');
  assert.ok(env.MODEL_SYNC_STORAGE_PATH!.startsWith(root) && env.MODEL_SYNC_STORAGE_PATH === run.workspace);
  assert.equal(await readFile(path.join(env.MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH!, 'AWS_S3_BUCKET'), 'utf8'), 'models');
  assert.ok((await stat(env.MODEL_SYNC_METADATA_CONFIGMAP_PATH!)).isDirectory(), 'optional ConfigMap volume is an empty folder');
  assert.equal(await readFile(path.join(env.MODEL_SYNC_DESTINATION_OCI_CERT_DIR!, 'ca.crt'), 'utf8'), destinationCerts.data['ca.crt'], 'the CA ConfigMap is the certs.d folder');
  assert.deepEqual(await readdir(env.MODEL_SYNC_SOURCE_OCI_CERT_DIR!), [], 'an absent optional CA ConfigMap: an empty folder');
  assert.equal(run.exitPods.length >= 1, true, 'the exit handler ran');
  const markFailed = run.exitPods[0]!;
  assert.equal(markFailed.template, 'mark-failed');
  assert.deepEqual(markFailed.args, ['mark-failed']);
  const failures = JSON.parse(markFailed.env.MODEL_SYNC_FAILURE_REASON!) as Obj[];
  assert.equal(failures[0]!.displayName, 'preflight');
  assert.match(failures[0]!.message, /exit code 2.*source-aws-key/);
  assert.equal(markFailed.env.MODEL_SYNC_MODEL_ARTIFACT_ID, '6');
  assert.equal(markFailed.env.MODEL_SYNC_STORAGE_PATH, run.workspace, 'mark-failed reads ids from the same workspace');
});

test('argo: an unknown or out-of-enum parameter is refused as argo submit would', async () => {
  await assert.rejects(runArgoWorkflowTemplate({ template: workflowTemplate, parameters: { ...badParams, 'source-type': 'ftp' } }, { root, objects: [] }), /not in/);
  await assert.rejects(runArgoWorkflowTemplate({ template: workflowTemplate, parameters: { ...badParams, 'no-such': 'x' } }, { root, objects: [] }), /unknown parameter/);
});

test('tekton: a failed preflight leaves the other tasks unstarted and the finally task mark-failed runs', async () => {
  const run = await runTektonPipeline(
    { pipeline, tasks: tektonTasks, params: badParams, workspaces: tektonWorkspaces },
    { root, objects: sampleSecrets },
  );
  assert.equal(run.status, 'Failed', describeRun(run));
  assert.deepEqual(run.pods.map((p) => [p.name, p.exitCode]), [['preflight', 2]]);
  assert.equal(run.pods[0]!.env.MODEL_SYNC_RESULTS_DIR!.startsWith(root), true, '/tekton/results is mapped');
  const markFailed = run.exitPods[0]!;
  assert.equal(markFailed?.name, 'mark-failed');
  assert.match(markFailed.env.MODEL_SYNC_FAILURE_REASON!, /preflight=Failed fetch=None/);
  assert.equal(markFailed.env.MODEL_SYNC_STORAGE_PATH, run.workspace);
  assert.equal(markFailed.env.MODEL_SYNC_METADATA_CONFIGMAP_PATH, '', 'unbound optional workspace gives an empty path');
});

test('one pod (argo entrypoint one-pod, tekton model-sync-pipeline-one-pod): a configuration error fails `all`, and mark-failed runs after it', async () => {
  assert.equal(onePodTemplate.spec.entrypoint, 'one-pod');
  const argo = await runArgoWorkflowTemplate({ template: onePodTemplate, parameters: { ...badParams, stream: 'false' } }, { root, objects: sampleSecrets });
  assert.equal(argo.status, 'Failed', describeRun(argo));
  assert.deepEqual(argo.pods.map((p) => [p.name, p.exitCode]), [['all', 2]], 'exit code 2 is not retried');
  assert.deepEqual(argo.pods[0]!.args, ['all']);
  assert.equal(argo.pods[0]!.env.MODEL_SYNC_STREAM, 'false', 'the stream parameter reaches the process');
  assert.match(argo.pods[0]!.termination, /source-aws-key/);
  assert.equal(argo.exitPods[0]?.template, 'mark-failed', 'the same exit handler');
  assert.equal(argo.exitPods[0]!.env.MODEL_SYNC_STORAGE_PATH, argo.workspace);

  const tekton = await runTektonPipeline(
    { pipeline: onePodPipeline, tasks: onePodTasks, params: badParams, workspaces: tektonWorkspaces },
    { root, objects: sampleSecrets },
  );
  assert.equal(tekton.status, 'Failed', describeRun(tekton));
  assert.ok(tekton.pods.length >= 1 && tekton.pods.every((p) => p.name === 'all' && p.exitCode === 2), describeRun(tekton));
  assert.equal(tekton.pods[0]!.env.MODEL_SYNC_STREAM, 'true', 'stream defaults to true');
  assert.equal(tekton.exitPods[0]?.name, 'mark-failed');
  assert.match(tekton.exitPods[0]!.env.MODEL_SYNC_FAILURE_REASON!, /all=Failed/);
  assert.equal(tekton.exitPods[0]!.env.MODEL_SYNC_STORAGE_PATH, tekton.workspace);
});

// ---------------------------------------------------------------------------------------------
// End to end: S3 -> modelcar in a local registry -> Model Registry stand-in, through each engine.

let parts: E2eServers | undefined;

const e2eObjects = (metadataName: string, modelName: string) => templateE2eObjects(parts!, metadataName, modelName);
const e2eParams = (repo: string, metadataName: string) => templateE2eParams(parts!, 'models/tiny/', repo, metadataName);

/** `modelOnVolume` false: `all` may stream, so the workspace may or may not hold the model. */
async function assertLanded(run: EngineRun, repo: string, modelName: string, modelOnVolume = true): Promise<void> {
  assert.equal(run.status, 'Succeeded', describeRun(run));
  assert.deepEqual(run.exitPods.map((p) => p.name), [], 'no mark-failed after success');
  const digest = run.outputs['image-digest'];
  assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.equal(run.outputs['model-uri'], `oci://${parts!.registry.host}/${repo}:1.0.0`);
  const manifest = await fetch(`${parts!.registry.url}/v2/${repo}/manifests/1.0.0`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers.get('docker-content-digest'), digest);
  const api = `${parts!.standinUrl.replace(/\/$/, '')}/api/model_registry/v1alpha3`;
  const models = (await (await fetch(`${api}/registered_models?pageSize=100`)).json()) as { items: Obj[] };
  const model = models.items.find((m) => m.name === modelName);
  assert.ok(model, `RegisteredModel ${modelName} not in the stand-in`);
  assert.equal(run.outputs['registered-model-id'], String(model.id));
  const artifact = (await (await fetch(`${api}/model_artifacts/${run.outputs['model-artifact-id']}`)).json()) as Obj;
  assert.equal(artifact.uri, `oci://${parts!.registry.host}/${repo}:1.0.0`);
  assert.equal(artifact.state, 'LIVE');
  if (!modelOnVolume) return;
  const files = await readdir(path.join(run.workspace, 'model', 'weights'));
  assert.deepEqual(files, ['model.bin']);
}

test('end to end through the Argo WorkflowTemplate and the Tekton Pipeline: S3 -> registry -> Model Registry', async (t) => {
  const skipReason = e2eSkip();
  if (skipReason) return t.skip(`end-to-end run skipped: ${skipReason}`);
  parts = await startE2eServers(root, { 'models/tiny/config.json': '{"model_type": "tiny"}', 'models/tiny/weights/model.bin': Buffer.alloc(300_000, 7) });
  t.after(() => parts!.stop());

  await t.test('argo', async () => {
    const objects = e2eObjects('meta-argo', 'tiny-argo');
    const run = await runArgoWorkflowTemplate({ template: workflowTemplate, parameters: e2eParams('models/tiny-argo', 'meta-argo') }, { root, objects });
    await assertLanded(run, 'models/tiny-argo', 'tiny-argo');
    assert.deepEqual(run.pods.map((p) => p.name), ['preflight', 'fetch', 'package', 'push', 'register']);
    const register = run.pods.find((p) => p.name === 'register')!;
    assert.equal(register.env.MODEL_SYNC_MODEL_URI, run.outputs['model-uri'], 'push output passed to register');
  });

  await t.test('tekton', async () => {
    const objects = [...e2eObjects('meta-tekton', 'tiny-tekton')];
    const { 'metadata-configmap': _unused, ...params } = e2eParams('models/tiny-tekton', 'meta-tekton');
    const run = await runTektonPipeline(
      { pipeline, tasks: tektonTasks, params, workspaces: { workspace: { volumeClaimTemplate: true }, 'source-credentials': { secret: 'model-sync-source' }, metadata: { configMap: 'meta-tekton' } } },
      { root, objects },
    );
    await assertLanded(run, 'models/tiny-tekton', 'tiny-tekton');
    assert.deepEqual(run.pods.map((p) => p.name), ['preflight', 'fetch', 'package', 'push', 'register']);
  });

  // Streaming or staged (until the streaming `all` exists, `all` stages whatever stream says): the
  // same model lands either way, in one pod.
  await t.test('argo one pod', async () => {
    const objects = e2eObjects('meta-argo-one-pod', 'tiny-argo-one-pod');
    const run = await runArgoWorkflowTemplate({ template: onePodTemplate, parameters: e2eParams('models/tiny-argo-one-pod', 'meta-argo-one-pod') }, { root, objects });
    await assertLanded(run, 'models/tiny-argo-one-pod', 'tiny-argo-one-pod', false);
    assert.deepEqual(run.pods.map((p) => p.name), ['all']);
    assert.equal(run.pods[0]!.env.MODEL_SYNC_STREAM, 'true');
  });

  await t.test('tekton one pod', async () => {
    const objects = [...e2eObjects('meta-tekton-one-pod', 'tiny-tekton-one-pod')];
    const { 'metadata-configmap': _unused, ...params } = e2eParams('models/tiny-tekton-one-pod', 'meta-tekton-one-pod');
    const run = await runTektonPipeline(
      {
        pipeline: onePodPipeline,
        tasks: onePodTasks,
        params: { ...params, stream: 'false' },
        workspaces: { workspace: { volumeClaimTemplate: true }, 'source-credentials': { secret: 'model-sync-source' }, metadata: { configMap: 'meta-tekton-one-pod' } },
      },
      { root, objects },
    );
    await assertLanded(run, 'models/tiny-tekton-one-pod', 'tiny-tekton-one-pod');
    assert.deepEqual(run.pods.map((p) => p.name), ['all']);
    assert.equal(run.pods[0]!.env.MODEL_SYNC_STREAM, 'false', 'stream false stages the model on the workspace');
  });
});
