// `model-sync all` end to end through the built CLI: a model in S3 (s3rver) -> modelcar on a busybox
// base (built offline, pushed with skopeo) -> a real local registry (docker-registry) -> registered
// in the Model Registry stand-in with create_model. And a failure after preflight, which must leave
// no artifact PENDING and say which ids exist.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { EXIT } from '../src/errors.js';
import { ModelRegistryClient } from '../src/model-registry/client.js';
import { runCli, tempDir } from '../dev/cli.js';
import { metadataFolder, registryEnv, SAMPLE_CREATE_MODEL } from './support/model-registry.js';
import { startRegistry, type TestRegistry } from '../dev/registry.js';
import { startS3Server, S3RVER_KEY, S3RVER_SECRET, type S3Server } from '../dev/s3-server.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { missingTools } from './support/requirements.js';

const run = promisify(execFile);

const skip = missingTools('registry', 'skopeo', 'busybox');

describe('all: S3 -> local OCI registry -> Model Registry stand-in', { skip }, () => {
  let s3: S3Server;
  let registry: TestRegistry;
  let standin: Standin;
  let client: ModelRegistryClient;
  const dirs: string[] = [];
  const files: Record<string, Buffer> = {
    'model.onnx': Buffer.alloc(3 * 1024 * 1024 + 17, 7),
    'config.json': Buffer.from('{"arch":"tiny"}'),
    'tokenizer/vocab.txt': Buffer.from('a\nb\nc\n'),
  };

  before(async () => {
    [s3, registry, standin] = await Promise.all([startS3Server('models'), startRegistry({ mode: 'plain' }), startStandin()]);
    client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false });
    for (const [name, body] of Object.entries(files)) await s3.put(`sentiment/v1/${name}`, body);
    const baseDir = await tempDir('ms-base-');
    dirs.push(baseDir);
    await buildBusyboxBase(path.join(baseDir, 'layout'));
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${path.join(baseDir, 'layout')}:latest`, `docker://${registry.host}/library/busybox:latest`]);
  });
  after(async () => {
    client?.close();
    await Promise.all([s3?.stop(), registry?.stop(), standin?.stop()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  function env(workspace: string, extra: Record<string, string | undefined>) {
    return registryEnv(standin, {
      MODEL_SYNC_STORAGE_PATH: workspace,
      MODEL_SYNC_SOURCE_TYPE: 's3',
      MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_SOURCE_AWS_KEY: 'sentiment/v1',
      MODEL_SYNC_SOURCE_AWS_ENDPOINT: s3.endpoint,
      MODEL_SYNC_SOURCE_AWS_REGION: 'us-east-1',
      MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY,
      MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
      MODEL_SYNC_DESTINATION_TYPE: 'oci',
      MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/sentiment:1.0.0`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${registry.host}/library/busybox:latest`,
      MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
      ...extra,
    });
  }

  it('create_model: moves the model, pushes the modelcar and registers all three entities', async () => {
    const ws = await tempDir('ms-all-');
    const metadata = await metadataFolder(SAMPLE_CREATE_MODEL, { volume: true });
    dirs.push(ws, metadata);
    const result = await runCli(['all'], env(ws, { MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model', MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata }), { timeoutMs: 90_000 });
    assert.equal(result.code, 0, result.stderr);
    const message = JSON.parse(result.termination) as Record<string, { id: string } | string>;
    assert.equal(message.intent, 'create_model');
    const model = (await client.findRegisteredModel('sentiment'))!;
    assert.deepEqual(message.RegisteredModel, { id: model.id });
    const version = (await client.findModelVersion('1.0.0', model.id))!;
    const [artifact] = await client.listModelVersionArtifacts(version.id);
    assert.deepEqual(message.ModelArtifact, { id: artifact!.id });
    assert.equal(artifact!.uri, `oci://${registry.host}/models/sentiment:1.0.0`);
    assert.equal(artifact!.state, 'LIVE');

    const results = JSON.parse(result.stdout) as Record<string, string>;
    assert.equal(results['model-files'], '3');
    assert.equal(Number(results['model-bytes']), Object.values(files).reduce((n, b) => n + b.length, 0));
    assert.match(results['image-digest']!, /^sha256:[0-9a-f]{64}$/);
    // the image is there, seen from outside, with the model under /models
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', '--override-os', 'linux', '--override-arch', 'amd64', `docker://${registry.host}/models/sentiment:1.0.0`]);
    const index = JSON.parse(stdout) as { manifests?: unknown[] };
    assert.ok(index.manifests && index.manifests.length >= 1);
    const { stdout: config } = await run('skopeo', ['inspect', '--tls-verify=false', '--override-os', 'linux', '--override-arch', 'amd64', `docker://${registry.host}/models/sentiment:1.0.0`]);
    assert.ok((JSON.parse(config) as { Layers: string[] }).Layers.length >= 2, 'base layer plus the model layers (small files share one: docs/modelcar.md, layer budget)');
    // one summary line with bytes, seconds, URI and ids
    const lines = result.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.find((l) => l.msg === 'all finished');
    assert.ok(summary, 'summary line');
    assert.equal(summary.uri, artifact!.uri);
    assert.equal(summary.bytes, Number(results['model-bytes']));
    assert.equal(summary.registeredModelId, model.id);
    assert.equal(typeof summary.seconds, 'number');
  });

  it('update_artifact: a fetch failure after preflight leaves the artifact ABANDONED and names the ids', async () => {
    const model = await client.createRegisteredModel({ name: 'ua-e2e', state: 'LIVE' });
    const version = await client.createModelVersion({ name: 'v1', registeredModelId: model.id, state: 'LIVE' });
    const artifact = await client.createModelVersionArtifact(version.id, { artifactType: 'model-artifact', uri: 'PLACEHOLDER', state: 'UNKNOWN' });
    const ws = await tempDir('ms-all-');
    dirs.push(ws);
    // The source passes preflight (its listing answers) but refuses its objects' bodies, so fetch
    // fails after the artifact was set PENDING (a missing prefix is refused by preflight itself:
    // test/preflight-path.test.ts).
    const proxy = await startFaultProxy(s3.endpoint);
    proxy.rules.push({ method: 'GET', path: /^\/models\/sentiment\/v1\//, status: 403, times: 1000 });
    const result = await runCli(['all'], env(ws, { MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id, MODEL_SYNC_SOURCE_AWS_ENDPOINT: proxy.url }), { timeoutMs: 90_000 }).finally(() => proxy.stop());
    assert.equal(result.code, EXIT.auth, result.stderr);
    assert.ok(proxy.requests.some((q) => q.fault), 'fetch asked for an object after preflight');
    const now = (await client.getModelArtifact(artifact.id))!;
    assert.equal(now.state, 'ABANDONED');
    assert.equal(now.uri, 'PLACEHOLDER');
    assert.match(result.termination, new RegExp(`ModelArtifact ${artifact.id} \\(existing, now ABANDONED\\)`));
    assert.ok(now.customProperties?.model_sync_failure_reason, 'the reason is recorded');
  });
});
