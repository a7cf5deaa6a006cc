// The streaming `all` (issue 14, item 3) on real servers: Ceph RGW as the S3 source and
// destination, the local docker-registry, the Model Registry stand-in. The model goes from the
// source straight into its layer uploads (or S3 uploads): nothing lands in model/, the workspace
// stays small, the image digest equals the staged path's for the same model and base, a re-run
// skips what the registry has, and a run killed with SIGKILL in the middle of a layer continues
// that layer from the registry's upload session.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { before, after, describe, it } from 'node:test';
import { buildMinimalBase } from '../dev/minimal-base.js';
import { runCli, runCliSignalled } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import type { Rgw } from '../dev/rgw.js';
import { DEFAULT_STREAM_CHUNK_SIZE as STREAM_CHUNK } from '../src/oci/stream-layer.js';
import { encodeTarHeader, padded, tarLayerFraming } from '../src/oci/tar-layer.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { logLines } from './support/fetch-helpers.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { useStandin } from './support/model-registry.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';

const MiB = 1024 * 1024;
const mr = useStandin();
const rgw = useRgw();

function lineWith(stderr: string, text: string): Record<string, unknown> | undefined {
  return logLines(stderr).find((l) => typeof l.msg === 'string' && l.msg.includes(text));
}

/** Bytes under `dir`, files only (what the run left on the volume). */
function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

async function modelFilesIn(ws: string): Promise<string[]> {
  return readdir(path.join(ws, 'model'), { recursive: true }).catch(() => [] as string[]);
}

const skip = registryAvailable() ? false : 'docker-registry is not installed';

describe('all streams the model from the source to the destination', { skip }, () => {
  let registry: TestRegistry;
  let s3: Rgw;
  let web: TestHttpServer;
  let baseImage = '';
  const model: Record<string, Buffer> = {
    'config.json': Buffer.from('{"architectures":["Tiny"]}'),
    'tokenizer/tokenizer.json': randomBytes(300 * 1024),
    [`${'deep/'.repeat(24)}long-name.txt`]: Buffer.from('a path of more than 100 bytes takes a GNU long-name record'),
    'weights/model-00001-of-00002.safetensors': randomBytes(12 * MiB + 5),
    'weights/model-00002-of-00002.safetensors': randomBytes(9 * MiB),
  };
  const large = randomBytes(160 * MiB);

  before(async () => {
    [registry, s3, web] = await Promise.all([startRegistry({ mode: 'plain' }), rgw.ready, startHttpServer()]);
    for (const [name, body] of Object.entries(model)) await s3.put(`granite/${name}`, body);
    await s3.put('large/model.bin', large);
    await s3.put('large/extra.bin', randomBytes(9 * MiB));
    baseImage = (await buildMinimalBase(await mr.dir('ms-base-'))).reference;
    web.routes.set('/model.tar', { body: tarOf('model.bin', Buffer.from('inside an archive')), contentType: 'application/x-tar' });
  });
  after(async () => {
    await Promise.all([registry?.stop(), web?.stop()]);
  });

  const s3Source = (key: string) => rgwSourceEnv(s3, key);
  const ociDestination = (tag: string) => ({
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/granite:${tag}`,
    MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
    MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: baseImage,
    // Files of 8 MiB and more keep a layer each; the small ones share one.
    MODEL_SYNC_MODELCAR_OWN_LAYER_BYTES: String(8 * MiB),
  });

  async function createModel(name: string, ws: string, extra: Record<string, string | undefined>) {
    const metadata = await mr.meta({ 'RegisteredModel.name': name, 'ModelVersion.name': 'v1', 'ModelArtifact.name': name });
    return runCli(['all'], mr.env(ws, metadata, 'create_model', { MODEL_SYNC_RETRY_ATTEMPTS: '2', ...extra }), { timeoutMs: 180_000 });
  }

  let streamedDigest = '';
  let streamedWs = '';

  it('S3 -> registry: nothing in model/, a small workspace, and the digest of the staged path', async () => {
    streamedWs = await mr.dir('ms-stream-');
    const streamed = await createModel('stream-granite', streamedWs, { ...s3Source('granite'), ...ociDestination('streamed') });
    assert.equal(streamed.code, 0, streamed.stderr);
    assert.ok(lineWith(streamed.stderr, 'no copy of the model on the volume'), 'the log says the model streams');
    assert.equal(lineWith(streamed.stderr, 'staging the model'), undefined, 'not staged');
    assert.deepEqual(await modelFilesIn(streamedWs), [], 'no model file on the volume');
    const total = Object.values(model).reduce((n, b) => n + b.length, 0);
    assert.ok(diskBytes(streamedWs) < total / 4, `the workspace holds ${diskBytes(streamedWs)} bytes, the model ${total}`);
    const pushed = JSON.parse(await readFile(path.join(streamedWs, '.model-sync/push.json'), 'utf8')) as { digest: string; uri: string };
    streamedDigest = pushed.digest;

    const stagedWs = await mr.dir('ms-staged-');
    const staged = await createModel('staged-granite', stagedWs, { ...s3Source('granite'), ...ociDestination('staged'), MODEL_SYNC_STREAM: 'false' });
    assert.equal(staged.code, 0, staged.stderr);
    assert.ok(lineWith(staged.stderr, 'staging the model'), 'the log says why it stages');
    assert.equal((await modelFilesIn(stagedWs)).length > 0, true, 'the staged path fills model/');
    const stagedPush = JSON.parse(await readFile(path.join(stagedWs, '.model-sync/push.json'), 'utf8')) as { digest: string };
    assert.equal(streamedDigest, stagedPush.digest, 'the same model on the same base gives the same image');

    // Registered with the pushed URI, and the image reads back byte-identical.
    const found = (await mr.client.findRegisteredModel('stream-granite'))!;
    const version = (await mr.client.listRegisteredModelVersions(found.id))[0]!;
    assert.equal((await mr.artifactOf(version.id)).uri, pushed.uri);
    const back = await mr.dir('ms-back-');
    const fetched = await runCli(['fetch'], {
      MODEL_SYNC_STORAGE_PATH: back,
      MODEL_SYNC_SOURCE_TYPE: 'oci',
      MODEL_SYNC_SOURCE_OCI_URI: `${registry.host}/models/granite:streamed`,
      MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'false',
    });
    assert.equal(fetched.code, 0, fetched.stderr);
    for (const [name, body] of Object.entries(model)) assert.ok(body.equals(await readFile(path.join(back, 'model', name))), `${name} reads back identical`);
  });

  it('a re-run skips the layers the registry already has', async () => {
    assert.ok(streamedWs, 'runs after the first test');
    const again = await createModel('stream-granite-2', streamedWs, { ...s3Source('granite'), ...ociDestination('streamed') });
    assert.equal(again.code, 0, again.stderr);
    const pushed = JSON.parse(await readFile(path.join(streamedWs, '.model-sync/push.json'), 'utf8')) as { digest: string; bytesUploaded: number };
    assert.equal(pushed.digest, streamedDigest);
    assert.ok(pushed.bytesUploaded < 64 * 1024, `only manifests go up again (${pushed.bytesUploaded} bytes): ${await readFile(path.join(streamedWs, '.model-sync/stream.json'), 'utf8').catch(() => 'no stream.json')}`);
  });

  it('killed with SIGKILL, the next run skips the finished layer and continues the other from the registry upload session', async () => {
    // The second PATCH of model.bin is held at a proxy in front of the registry, and the run is
    // killed while it is in flight: the registry holds exactly the first chunk, as recorded.
    // (A kill in the middle of a PATCH that reaches distribution 2.8 loses the session instead,
    // docs/oci.md "Resume"; then the layer starts over.)
    const proxy = await startFaultProxy(registry.url);
    try {
      const ws = await mr.dir('ms-kill-');
      const destination = { ...ociDestination('large'), MODEL_SYNC_DESTINATION_OCI_URI: `${new URL(proxy.url).host}/models/granite:large` };
      const env = { ...s3Source('large'), ...destination, MODEL_SYNC_PUSH_CONCURRENCY: '1' };
      const meta = () => mr.meta({ 'RegisteredModel.name': 'stream-large', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'stream-large' });
      // extra.bin (one PATCH) streams first, in path order; model.bin's second PATCH is held.
      proxy.rules.push({ method: 'PATCH', skip: 2, status: 503, delayMs: 10_000 });
      const killed = await runCliSignalled(['all'], mr.env(ws, await meta(), 'create_model', env), { signal: 'SIGKILL', when: () => proxy.requests.some((q) => q.method === 'PATCH' && q.fault) }, { timeoutMs: 180_000 });
      assert.equal(killed.killedBy, 'SIGKILL', `killed while a chunk was in flight (${killed.code}): ${killed.stderr.slice(-2000)}`);

      const resumed = await runCli(['all'], mr.env(ws, await meta(), 'create_model', env), { timeoutMs: 180_000 });
      assert.equal(resumed.code, 0, resumed.stderr);
      const continued = lineWith(resumed.stderr, 'continued the upload session');
      assert.equal(Number(continued?.resumedAt), STREAM_CHUNK, `model.bin continued after its first chunk: ${resumed.stderr.slice(-3000)}`);
      const summary = lineWith(resumed.stderr, 'stream finished')!;
      assert.equal(summary.layersSkipped, 1, 'extra.bin, finished before the kill, is not sent again');
      const layerSize = large.length + 1536;
      const sent = Number(summary.bytesUploaded);
      assert.ok(sent >= layerSize - STREAM_CHUNK && sent < layerSize - STREAM_CHUNK + 64 * 1024, `the re-run sent the bytes after the registry offset and the manifests only (${sent})`);

      // The layer is the one package would make of the same file.
      const { header, trailer } = tarLayerFraming('model.bin', large.length);
      const digest = 'sha256:' + createHash('sha256').update(header).update(large).update(trailer).digest('hex');
      const blob = await fetch(`${registry.url}/v2/models/granite/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(blob.status, 200, 'the layer blob is in the registry under the digest package computes');
      assert.deepEqual(await modelFilesIn(ws), []);
    } finally {
      await proxy.stop();
    }
  });

  it('S3 -> S3 streams: the objects arrive byte-identical, nothing in model/', async () => {
    const ws = await mr.dir('ms-s3s3-');
    const r = await createModel('stream-s3', ws, {
      ...s3Source('granite'),
      MODEL_SYNC_DESTINATION_TYPE: 's3',
      MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_DESTINATION_AWS_KEY: 'copied/granite',
      MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
      MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: s3.accessKey,
      MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: s3.secretKey,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(lineWith(r.stderr, 'no copy of the model on the volume'));
    assert.deepEqual(await modelFilesIn(ws), []);
    for (const [name, body] of Object.entries(model)) assert.ok(body.equals(await objectBytes(s3, `copied/granite/${name}`)), `${name} copied identical`);
  });

  it('a local folder streams; an archive is staged, and the log says why', async () => {
    const folder = await mr.dir('ms-local-src-');
    await mkdir(path.join(folder, 'sub'), { recursive: true });
    await writeFile(path.join(folder, 'sub/weights.bin'), randomBytes(MiB));
    const ws = await mr.dir('ms-local-');
    const local = await createModel('stream-local', ws, { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: folder, ...ociDestination('local') });
    assert.equal(local.code, 0, local.stderr);
    assert.ok(lineWith(local.stderr, 'no copy of the model on the volume'));
    assert.deepEqual(await modelFilesIn(ws), []);

    const ws2 = await mr.dir('ms-archive-');
    const archive = await createModel('stream-archive', ws2, { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `${web.url}/model.tar`, ...ociDestination('archive') });
    assert.equal(archive.code, 0, archive.stderr);
    const staging = lineWith(archive.stderr, 'staging the model');
    assert.ok(staging && /archive/i.test(String(staging.reason)), `staged, naming the archive: ${JSON.stringify(staging)}`);
    assert.deepEqual(await modelFilesIn(ws2), ['model.bin']);
  });
});

/** A one-file tar archive, enough for the archive source. */
function tarOf(name: string, body: Buffer): Buffer {
  const header = encodeTarHeader({ name, type: 'file', mode: 0o644, size: body.length });
  return Buffer.concat([header, body, Buffer.alloc(padded(body.length) - body.length + 1024)]);
}

async function objectBytes(s3: Rgw, key: string): Promise<Buffer> {
  const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}
