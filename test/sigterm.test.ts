// SIGTERM as Kubernetes sends it (pod deletion, preemption, activeDeadlineSeconds): every step stops
// within --termination-grace-period, says in the termination message what it aborted or recorded,
// and exits 143; a re-run starts clean. The CLI runs as a child process and gets a real signal.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, runCli, runCliSignalled, tempDir } from '../dev/cli.js';
import { loadStep } from '../src/contract/contract.js';
import { Shutdown, signalExitCode } from '../src/util/shutdown.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { OciLayout } from '../src/oci/layout.js';
import { Workspace } from '../src/workspace/workspace.js';
import { writeRecord } from '../src/workspace/records.js';
import { writeRandomImage } from './support/oci-images.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { readInventory, sha256 } from './support/fetch-helpers.js';
import { useStandin } from './support/model-registry.js';

const mr = useStandin();
let web: TestHttpServer;
let slow: FaultProxy;
let dir: string;
const weights = randomBytes(8 * 1024 * 1024 + 17);

before(async () => {
  web = await startHttpServer();
  web.routes.set('/files/model.safetensors', { body: weights });
  slow = await startFaultProxy(web.url);
  dir = await tempDir('ms-sigterm-');
});

after(async () => {
  await slow?.stop();
  await web?.stop();
  await rm(dir, { recursive: true, force: true });
});

function fetchEnv(ws: string, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  return { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: uri, ...extra };
}

/** GETs the slow proxy has answered so far (the body may still be on its way). */
function answeredGets(): number {
  return slow.requests.filter((r) => r.method === 'GET' && r.status === 200).length;
}

/** The JSON log lines of a run. */
function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('fetch stopped by SIGTERM mid-download: exit 143 at once, the termination message says so, and a re-run fetches the whole file', async () => {
  const ws = path.join(dir, 'fetch');
  // The download stalls after 1 MiB: without a stop it would sit there for the network timeout.
  slow.rules.push({ method: 'GET', path: '/files/model.safetensors', stallAfterBytes: 1024 * 1024 });
  const before = answeredGets();
  const stopped = await runCliSignalled(['fetch'], fetchEnv(ws, `${slow.url}/files/model.safetensors`, { MODEL_SYNC_TERMINATION_GRACE_PERIOD: '10' }), {
    signal: 'SIGTERM',
    // Once the stalled GET has been answered: the body is on its way.
    when: () => answeredGets() > before,
  });
  assert.equal(stopped.code, 143, stopped.stderr);
  assert.ok(stopped.msAfterSignal < 10_000, `exited ${stopped.msAfterSignal} ms after SIGTERM, past the 10 s grace period`);
  assert.match(stopped.termination, /^fetch stopped by SIGTERM after [\d.]+ s: the download was abandoned; fetch\.json records 0 complete files/);
  const last = logLines(stopped.stderr).at(-1);
  assert.equal(last?.exitCode, 143, 'the message is logged with the exit code');
  assert.equal(last?.msg, stopped.termination);
  await assert.rejects(readFile(path.join(ws, 'model/model.safetensors')), 'no half file in model/');

  const again = await runCli(['fetch'], fetchEnv(ws, `${slow.url}/files/model.safetensors`));
  assert.equal(again.code, 0, again.stderr);
  assert.ok((await readFile(path.join(ws, 'model/model.safetensors'))).equals(weights));
  const inv = await readInventory(ws);
  // mtimeMs: the file's as fetch left it (package reuses the sha256 while it holds)
  assert.deepEqual(inv.files, [{ path: 'model.safetensors', size: weights.length, sha256: sha256(weights), mtimeMs: (await stat(path.join(ws, 'model/model.safetensors'))).mtimeMs }]);
});

test('a second SIGTERM does not skip the termination message; SIGINT exits 130', async () => {
  const ws = path.join(dir, 'twice');
  slow.rules.push({ method: 'GET', path: '/files/model.safetensors', stallAfterBytes: 1024 * 1024, times: 2 });
  let before = answeredGets();
  const twice = await runCliSignalled(['fetch'], fetchEnv(ws, `${slow.url}/files/model.safetensors`), {
    signal: 'SIGTERM',
    againAfterMs: 0,
    when: () => answeredGets() > before,
  });
  assert.equal(twice.code, 143, twice.stderr);
  assert.match(twice.termination, /^fetch stopped by SIGTERM/);
  before = answeredGets();
  const interrupted = await runCliSignalled(['fetch'], fetchEnv(ws, `${slow.url}/files/model.safetensors`), {
    signal: 'SIGINT',
    when: () => answeredGets() > before,
  });
  assert.equal(interrupted.code, 130, interrupted.stderr);
  assert.match(interrupted.termination, /^fetch stopped by SIGINT/);
});

describe('push to an OCI registry stopped by SIGTERM', { skip: registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)' }, () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    proxy = await startFaultProxy(registry.url);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });
  const uploadPuts = () => proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/')).length;

  test('the open blob upload session is deleted, the message says so, exit 143', async () => {
    const storage = path.join(dir, 'oci');
    const layout = new OciLayout(path.join(storage, 'image'));
    const desc = await writeRandomImage(layout, 2, 4096);
    const ws = await new Workspace(storage).init();
    await writeRecord(ws, 'package', { baseImage: 'test', baseDigest: desc.digest, indexDigest: desc.digest, mediaType: desc.mediaType, size: desc.size, layerBlobs: 'model-files', layers: [] });
    // Every blob PUT (the end of a monolithic upload) hangs: the sessions stay open.
    proxy.rules.push({ method: 'PUT', path: /\/blobs\/uploads\//, delayMs: 15_000, times: 100 });
    const host = new URL(proxy.url).host;
    const stopped = await runCliSignalled(['push', '--storage-path', storage, '--destination-oci-uri', `${host}/models/stopped:v1`], {}, {
      signal: 'SIGTERM',
      when: () => uploadPuts() > 0,
    });
    assert.equal(stopped.code, 143, stopped.stderr);
    assert.match(stopped.termination, /^push stopped by SIGTERM after [\d.]+ s: the upload session of blob sha256:[0-9a-f]{64} at 127\.0\.0\.1:\d+ deleted/);
    const deleted = proxy.requests.filter((r) => r.method === 'DELETE' && r.path.includes('/blobs/uploads/'));
    const hung = proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'));
    const opened = proxy.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/blobs/uploads/') && r.status === 202);
    assert.ok(hung.length >= 1);
    // A session opened just before the signal, its PUT not yet sent, is deleted too.
    assert.deepEqual(
      hung.filter((p) => !deleted.some((d) => d.path === p.path)).map((p) => p.path),
      [],
      'each session with a PUT in flight was deleted',
    );
    assert.ok(deleted.length <= opened.length, 'no DELETE but of sessions the registry opened');
    assert.equal(new Set(deleted.map((d) => d.path)).size, deleted.length, 'each session deleted once');
    proxy.rules.length = 0;
  });

  test('when the clean-up outlasts the grace period: exit 143 at its end, the message names what is left', async () => {
    const storage = path.join(dir, 'oci-late');
    const layout = new OciLayout(path.join(storage, 'image'));
    const desc = await writeRandomImage(layout, 1, 4096);
    const ws = await new Workspace(storage).init();
    await writeRecord(ws, 'package', { baseImage: 'test', baseDigest: desc.digest, indexDigest: desc.digest, mediaType: desc.mediaType, size: desc.size, layerBlobs: 'model-files', layers: [] });
    proxy.rules.push({ method: 'PUT', path: /\/blobs\/uploads\//, delayMs: 15_000, times: 100 }, { method: 'DELETE', delayMs: 15_000, times: 100 });
    const host = new URL(proxy.url).host;
    const before = uploadPuts();
    const stopped = await runCliSignalled(
      ['push', '--storage-path', storage, '--destination-oci-uri', `${host}/models/late:v1`, '--termination-grace-period', '2'],
      {},
      { signal: 'SIGTERM', when: () => uploadPuts() > before },
    );
    assert.equal(stopped.code, 143, stopped.stderr);
    assert.ok(stopped.msAfterSignal >= 2000 && stopped.msAfterSignal < 5000, `exited ${stopped.msAfterSignal} ms after SIGTERM, not at the end of the 2 s grace period`);
    assert.match(
      stopped.termination,
      /^push stopped by SIGTERM after [\d.]+ s: not cleaned up within the grace period of 2 s \(--termination-grace-period \/ MODEL_SYNC_TERMINATION_GRACE_PERIOD\): the upload session of blob sha256:/,
    );
    proxy.rules.length = 0;
  });
});

test('the Job samples give the pod more time after SIGTERM than model-sync takes (terminationGracePeriodSeconds)', async () => {
  const setting = loadStep('all').parameters.find((p) => p.name === 'termination-grace-period');
  assert.equal(typeof setting?.default, 'number');
  const jobs = path.join(REPO_ROOT, 'samples/job');
  const files = (await readdir(jobs)).filter((f) => f.endsWith('.yaml'));
  let checked = 0;
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(path.join(jobs, file), 'utf8'))) {
      const obj = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { terminationGracePeriodSeconds?: number } } } };
      if (obj?.kind !== 'Job') continue;
      const grace = obj.spec?.template?.spec?.terminationGracePeriodSeconds;
      assert.ok(typeof grace === 'number' && grace > (setting!.default as number), `${file}: terminationGracePeriodSeconds ${grace} must exceed ${setting!.default}`);
      checked++;
    }
  }
  assert.ok(checked >= 3, `checked ${checked} Jobs`);
});

test('all stopped by SIGTERM past preflight settles the Model Registry as on failure: the artifact preflight set PENDING ends ABANDONED', async () => {
  const model = await mr.client.createRegisteredModel({ name: 'stopped-ua', state: 'LIVE' });
  const version = await mr.client.createModelVersion({ name: 'v1', registeredModelId: model.id, state: 'LIVE' });
  const artifact = await mr.client.createModelVersionArtifact(version.id, { artifactType: 'model-artifact', uri: 'PLACEHOLDER', state: 'UNKNOWN' });
  const ws = await mr.dir('ms-sigterm-all-');
  slow.rules.push({ method: 'GET', path: '/files/model.safetensors', stallAfterBytes: 1024 * 1024 });
  const before = answeredGets();
  const stopped = await runCliSignalled(
    ['all'],
    mr.env(ws, undefined, 'update_artifact', { MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id, MODEL_SYNC_SOURCE_URI: `${slow.url}/files/model.safetensors` }),
    { signal: 'SIGTERM', when: async () => answeredGets() > before && (await mr.client.getModelArtifact(artifact.id))?.state === 'PENDING' },
  );
  assert.equal(stopped.code, 143, stopped.stderr);
  const now = (await mr.client.getModelArtifact(artifact.id))!;
  assert.equal(now.state, 'ABANDONED');
  assert.equal(now.uri, 'PLACEHOLDER');
  assert.match(JSON.stringify(now.customProperties?.model_sync_failure_reason), /stopped by SIGTERM/, 'the reason is recorded');
  assert.match(stopped.termination, /^all stopped by SIGTERM after [\d.]+ s: the download was abandoned; .*Model Registry: .*ModelArtifact /);
  assert.match(stopped.termination, new RegExp(`ModelArtifact ${artifact.id} \\(existing, now ABANDONED\\)`));
});

test('Shutdown: transfers are undone at once, then settle actions in order; a finished one is not run; the account says what is pending', async () => {
  const stop = new Shutdown();
  const order: string[] = [];
  let release!: () => void;
  const slowTransfer = new Promise<void>((resolve) => (release = resolve));
  stop.onStop({ what: 'settle', phase: 'settle', run: async (signal) => (order.push(`settle ${signal}`), 'settled') });
  stop.onStop({ what: 'upload a', run: async () => (order.push('a'), await slowTransfer, 'a aborted early') });
  stop.onStop({ what: 'upload b', run: async () => void order.push('b') });
  stop.onStop({ what: 'failing', run: async () => Promise.reject(new Error('no answer')) });
  const finished = stop.onStop({ what: 'finished upload', run: async () => void order.push('finished') });
  finished();
  assert.equal(stop.signal.aborted, false);
  const done = stop.stop('SIGTERM');
  assert.equal(stop.signal.aborted, true, 'the signal is aborted first');
  assert.equal(stop.stop('SIGTERM'), done, 'a second stop is the same one');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a', 'b'], 'transfers at once; settle waits for them');
  assert.deepEqual(stop.account().pending.sort(), ['settle', 'upload a']);
  release();
  const account = await done;
  assert.deepEqual(order, ['a', 'b', 'settle SIGTERM']);
  assert.deepEqual(account, { done: ['upload b aborted', 'a aborted early', 'settled'], failed: ['failing: no answer'], pending: [] });
  assert.equal(signalExitCode('SIGTERM'), 143);
  assert.equal(signalExitCode('SIGINT'), 130);
});

test('Shutdown: many requests listening to its signal at once print no leak warning (it would break the JSON log)', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const stop = new Shutdown();
    for (let i = 0; i < 50; i++) stop.signal.addEventListener('abort', () => undefined);
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
});
