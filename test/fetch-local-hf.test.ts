// fetch with source-type uri for file://, plain paths, pvc:// and hf:// (against a local Hub stand-in).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir } from '../dev/cli.js';
import { serveHfRepo, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { listAll, logLines, readInventory, readTree, sha256 } from './support/fetch-helpers.js';

let root: string;
let hub: TestHttpServer;
let cdn: TestHttpServer;
const weights = randomBytes(150_000);
const HF_TOKEN = 'hf_testTOKENvalue1234567890';

before(async () => {
  root = await tempDir('ms-fetch-local-');
  // A PVC mount root with one claim holding a Hugging Face cache-like layout.
  const claim = path.join(root, 'pvc/models-claim');
  await mkdir(path.join(claim, 'blobs'), { recursive: true });
  await mkdir(path.join(claim, 'snapshots/abc/sub'), { recursive: true });
  await writeFile(path.join(claim, 'blobs/1111'), weights);
  await symlink('../../blobs/1111', path.join(claim, 'snapshots/abc/model.safetensors'));
  await writeFile(path.join(claim, 'snapshots/abc/sub/config.json'), '{"a":1}');
  // A plain folder, and one with a link that leads out of it.
  await mkdir(path.join(root, 'plain/nested'), { recursive: true });
  await writeFile(path.join(root, 'plain/a.txt'), 'aaa');
  await writeFile(path.join(root, 'plain/nested/b.bin'), weights);
  await mkdir(path.join(root, 'leaky'));
  await writeFile(path.join(root, 'leaky/ok.txt'), 'ok');
  await writeFile(path.join(root, 'secret.txt'), 'not part of the model');
  await symlink('../secret.txt', path.join(root, 'leaky/link.txt'));

  hub = await startHttpServer();
  cdn = await startHttpServer();
  serveHfRepo(hub, 'acme/tiny-model', 'main', [
    { path: 'config.json', body: Buffer.from('{"model_type":"tiny"}') },
    { path: 'model.safetensors', body: weights, lfs: true },
    { path: 'tokenizer/vocab.txt', body: Buffer.from('a\nb\n') },
  ], { token: HF_TOKEN, cdn });
  serveHfRepo(hub, 'acme/public', 'v1.0', [{ path: 'README.md', body: Buffer.from('# hi') }]);
  serveHfRepo(hub, 'acme/hostile', 'main', [{ path: '../escape.txt', body: Buffer.from('x') }]);
});

after(async () => {
  await hub?.stop();
  await cdn?.stop();
  await rm(root, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await tempDir('ms-fetch-ws-');
  return path.join(dir, 'ws');
}

const uriEnv = (ws: string, uri: string, extra: Record<string, string> = {}) => ({
  MODEL_SYNC_STORAGE_PATH: ws,
  MODEL_SYNC_SOURCE_TYPE: 'uri',
  MODEL_SYNC_SOURCE_URI: uri,
  ...extra,
});

test('file:// and a plain path copy a folder (nested) or a single file', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], uriEnv(ws, pathToFileURL(path.join(root, 'plain')).href));
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), ['a.txt', 'nested/b.bin']);
  assert.ok(tree.get('nested/b.bin')!.equals(weights));
  assert.equal((await readInventory(ws)).files[1]!.sha256, sha256(weights));

  const ws2 = await storage();
  const single = await runCli(['fetch'], uriEnv(ws2, path.join(root, 'plain/nested/b.bin')));
  assert.equal(single.code, 0, single.stderr);
  assert.deepEqual([...(await readTree(path.join(ws2, 'model'))).keys()], ['b.bin']);

  const again = await runCli(['fetch'], uriEnv(ws, pathToFileURL(path.join(root, 'plain')).href));
  assert.equal(again.code, 0);
  assert.equal(logLines(again.stderr).filter((l) => l.msg === 'already complete, skipping').length, 2);
});

test('pvc://<claim>/<path> resolves under --pvc-mount-root; links inside the claim are followed', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], uriEnv(ws, 'pvc://models-claim/snapshots/abc', { MODEL_SYNC_PVC_MOUNT_ROOT: path.join(root, 'pvc') }));
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), ['model.safetensors', 'sub/config.json']);
  assert.ok(tree.get('model.safetensors')!.equals(weights));
  assert.equal((await readInventory(ws)).source, 'pvc://models-claim/snapshots/abc');
});

test('local sources: a link out of the source root is unsafe; missing paths and bad URIs are named', async () => {
  const ws = await storage();
  const leaky = await runCli(['fetch'], uriEnv(ws, path.join(root, 'leaky')));
  assert.equal(leaky.code, EXIT.unsafe, leaky.stderr);
  assert.match(leaky.termination, /link\.txt.*outside the source root/);
  assert.deepEqual(await listAll(path.join(ws, 'model')), []);

  const missing = await runCli(['fetch'], uriEnv(ws, path.join(root, 'nope')));
  assert.equal(missing.code, EXIT.notFound);
  assert.match(missing.termination, /nope/);

  const escape = await runCli(['fetch'], uriEnv(ws, 'pvc://models-claim/../../etc', { MODEL_SYNC_PVC_MOUNT_ROOT: path.join(root, 'pvc') }));
  assert.equal(escape.code, EXIT.unsafe, escape.stderr);

  const badClaim = await runCli(['fetch'], uriEnv(ws, 'pvc://Bad_Claim/x'));
  assert.equal(badClaim.code, EXIT.config);
  assert.match(badClaim.termination, /--source-uri \/ MODEL_SYNC_SOURCE_URI/);
});

test('hf:// lists the repository, downloads every file with the token, and not to the CDN', async () => {
  const ws = await storage();
  hub.requests.length = 0;
  cdn.requests.length = 0;
  const r = await runCli(['fetch'], uriEnv(ws, 'hf://acme/tiny-model', { HF_ENDPOINT: hub.url, HF_TOKEN }));
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), ['config.json', 'model.safetensors', 'tokenizer/vocab.txt']);
  assert.ok(tree.get('model.safetensors')!.equals(weights));
  assert.ok(hub.requests.some((q) => q.path === '/api/models/acme/tiny-model/revision/main'));
  assert.ok(hub.requests.every((q) => q.authorization === `Bearer ${HF_TOKEN}`), 'the Hub gets the token');
  assert.ok(cdn.requests.length >= 3 && cdn.requests.every((q) => q.authorization === undefined), 'the CDN never does');
  assert.equal((await readInventory(ws)).source, 'hf://acme/tiny-model:main');
  assert.ok(!r.stderr.includes(HF_TOKEN) && !r.stdout.includes(HF_TOKEN));

  const again = await runCli(['fetch'], uriEnv(ws, 'hf://acme/tiny-model', { HF_ENDPOINT: hub.url, HF_TOKEN }));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(logLines(again.stderr).filter((l) => l.msg === 'already complete, skipping').length, 3);
});

test('hf:// with a revision; missing token, unknown repo, hostile names and bad URIs', async () => {
  const ws = await storage();
  const pub = await runCli(['fetch'], uriEnv(ws, 'hf://acme/public:v1.0', { HF_ENDPOINT: hub.url }));
  assert.equal(pub.code, 0, pub.stderr);
  assert.equal(await readFile(path.join(ws, 'model/README.md'), 'utf8'), '# hi');

  const noToken = await runCli(['fetch'], uriEnv(await storage(), 'hf://acme/tiny-model', { HF_ENDPOINT: hub.url }));
  assert.equal(noToken.code, EXIT.notFound);
  assert.match(noToken.termination, /acme\/tiny-model.*HF_TOKEN/);
  const wrongToken = await runCli(['fetch'], uriEnv(await storage(), 'hf://acme/tiny-model', { HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_wrongwrongwrong' }));
  assert.equal(wrongToken.code, EXIT.auth);

  const unknown = await runCli(['fetch'], uriEnv(await storage(), 'hf://acme/unknown', { HF_ENDPOINT: hub.url }));
  assert.equal(unknown.code, EXIT.notFound);

  const hostileWs = await storage();
  const hostile = await runCli(['fetch'], uriEnv(hostileWs, 'hf://acme/hostile', { HF_ENDPOINT: hub.url }));
  assert.equal(hostile.code, EXIT.unsafe);
  assert.match(hostile.termination, /escape\.txt/);
  assert.deepEqual(await listAll(path.dirname(hostileWs)).then((f) => f.filter((x) => x.includes('escape'))), []);

  const bad = await runCli(['fetch'], uriEnv(await storage(), 'hf://just-a-name', { HF_ENDPOINT: hub.url }));
  assert.equal(bad.code, EXIT.config);
  assert.match(bad.termination, /hf:\/\/<org>\/<model>/);
});
