// fetch with source-type uri over http: single files, tar / tar.gz / zip archives (by name and by
// Content-Type), redirects, retries, re-runs and hostile archives, through the built CLI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir } from '../dev/cli.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { tar, zip } from './support/archives.js';
import { listAll, logLines, readInventory, readTree, sha256 } from './support/fetch-helpers.js';

let web: TestHttpServer;
const temps: string[] = [];
const weights = randomBytes(200_000);
const config = Buffer.from('{"architectures":["Test"]}');
const tarEntries = tar([
  { name: 'model/', type: '5' },
  { name: 'model/config.json', body: config },
  { name: 'model/weights/w.bin', body: weights },
  { name: 'model/latest.bin', type: '2', linkname: 'weights/w.bin' },
]);
const zipBody = zip([
  { name: 'model/' },
  { name: 'model/config.json', body: config },
  { name: 'model/weights/w.bin', body: weights, deflate: true },
]);

before(async () => {
  web = await startHttpServer();
  const r = web.routes;
  r.set('/files/model.safetensors', { body: weights });
  r.set('/files/model.tar', { body: tarEntries, contentType: 'application/x-tar' });
  r.set('/files/model.tar.gz', { body: gzipSync(tarEntries), contentType: 'application/octet-stream' });
  r.set('/files/model.tgz', { body: gzipSync(tarEntries), contentType: 'application/gzip' });
  r.set('/files/model.zip', { body: zipBody, contentType: 'application/zip' });
  r.set('/download/tarball', { body: gzipSync(tarEntries), contentType: 'application/gzip' });
  r.set('/download/zipball', { body: zipBody, contentType: 'application/zip; charset=binary' });
  r.set('/moved/model.safetensors', { redirect: '/files/model.safetensors' });
  r.set('/flaky/model.bin', { body: weights, cutAfter: 50_000, cutTimes: 1 });
  r.set('/flaky/model.tar', { body: tarEntries, cutAfter: 3_000, cutTimes: 1, contentType: 'application/x-tar' });
  r.set('/private/model.bin', { body: config, authorization: `Basic ${Buffer.from('alice:s3cr3t-pass').toString('base64')}` });
  r.set('/missing/model.bin', { status: 404, body: 'no' });
  r.set('/broken/truncated.tar', { body: tarEntries.subarray(0, 3_000) /* cut inside an entry's data */ });
  r.set('/broken/garbage.zip', { body: randomBytes(5_000) });
  r.set('/broken/garbage.tar.gz', { body: randomBytes(5_000) });
  r.set('/forbidden/model.bin', { status: 403, body: 'no' });
  const hostile: Record<string, Buffer> = {
    'dotdot.tar': tar([{ name: 'ok.txt', body: 'ok' }, { name: '../evil.txt', body: 'evil' }]),
    'absolute.tar': tar([{ name: '/tmp/evil-absolute.txt', body: 'evil' }]),
    'symlink-out.tar': tar([{ name: 'link', type: '2', linkname: '../../evil-target' }]),
    'symlink-abs.tar': tar([{ name: 'passwd', type: '2', linkname: '/etc/passwd' }]),
    'symlink-dir-then-file.tar': tar([{ name: 'up', type: '2', linkname: '..' }, { name: 'up/evil.txt', body: 'evil' }]),
    'hardlink-out.tar': tar([{ name: 'h', type: '1', linkname: '../evil-target' }]),
    'device.tar': tar([{ name: 'null', type: '3' }]),
    'fifo.tar': tar([{ name: 'pipe', type: '6' }]),
    'dotdot.zip': zip([{ name: 'ok.txt', body: 'ok' }, { name: '../evil.txt', body: 'evil' }]),
    'absolute.zip': zip([{ name: '/tmp/evil-absolute.txt', body: 'evil' }]),
    'symlink-out.zip': zip([{ name: 'link', body: '../../evil-target', mode: 0o120777 }]),
  };
  for (const [name, body] of Object.entries(hostile)) r.set(`/hostile/${name}`, { body });
});

after(async () => {
  await web?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await tempDir('ms-fetch-http-');
  temps.push(dir);
  return path.join(dir, 'ws');
}

function env(ws: string, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  return { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: uri, ...extra };
}

async function assertUnpacked(ws: string): Promise<void> {
  const tree = await readTree(path.join(ws, 'model'));
  assert.ok(tree.get('model/config.json')?.equals(config));
  assert.ok(tree.get('model/weights/w.bin')?.equals(weights));
  const inv = await readInventory(ws);
  assert.equal(inv.files.find((f) => f.path === 'model/weights/w.bin')?.sha256, sha256(weights));
  assert.deepEqual(await readdir(path.join(ws, '.model-sync/tmp')).catch(() => []), [], 'the archive is not kept');
}

test('a single file lands as model/<name> with its sha256 in the inventory', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, `${web.url}/files/model.safetensors`));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await readFile(path.join(ws, 'model/model.safetensors'))).equals(weights));
  const inv = await readInventory(ws);
  // mtimeMs: the file's as fetch left it (package reuses the sha256 while it holds)
  assert.deepEqual(inv.files, [{ path: 'model.safetensors', size: weights.length, sha256: sha256(weights), mtimeMs: (await stat(path.join(ws, 'model/model.safetensors'))).mtimeMs }]);
  assert.equal(inv.source, `${web.url}/files/model.safetensors`);
});

test('tar, tar.gz and tgz archives are unpacked (detected by name); links inside stay links', async () => {
  for (const name of ['model.tar', 'model.tar.gz', 'model.tgz']) {
    const ws = await storage();
    const r = await runCli(['fetch'], env(ws, `${web.url}/files/${name}`));
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    await assertUnpacked(ws);
    const inv = await readInventory(ws);
    assert.deepEqual(
      inv.files.map((f) => f.path),
      ['model/config.json', 'model/latest.bin', 'model/weights/w.bin'],
      'a symbolic link to a file is listed as that file',
    );
    assert.equal(inv.files[1]!.sha256, sha256(weights));
  }
});

test('zip archives are unpacked (stored and deflated entries)', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, `${web.url}/files/model.zip`));
  assert.equal(r.code, 0, r.stderr);
  await assertUnpacked(ws);
});

test('archives without a telling name are recognised by Content-Type', async () => {
  for (const p of ['/download/tarball', '/download/zipball']) {
    const ws = await storage();
    const r = await runCli(['fetch'], env(ws, `${web.url}${p}`));
    assert.equal(r.code, 0, `${p}: ${r.stderr}`);
    await assertUnpacked(ws);
  }
});

test('redirects are followed; a connection cut mid-body is retried', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, `${web.url}/moved/model.safetensors`));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await readFile(path.join(ws, 'model/model.safetensors'))).equals(weights));

  for (const [p, check] of [
    ['/flaky/model.bin', async (w: string) => assert.ok((await readFile(path.join(w, 'model/model.bin'))).equals(weights))],
    ['/flaky/model.tar', assertUnpacked],
  ] as const) {
    const w = await storage();
    const flaky = await runCli(['fetch'], env(w, `${web.url}${p}`));
    assert.equal(flaky.code, 0, flaky.stderr);
    assert.ok(logLines(flaky.stderr).some((l) => String(l.msg).includes('transient failure, retrying')), 'the first attempt failed');
    await check(w);
  }
});

test('--network-timeout and --retry-attempts reach the HTTP source: a stalled body fails after the set attempts', async () => {
  web.routes.set('/stalled/model.bin', { body: weights, etag: false });
  const proxy = await startFaultProxy(web.url);
  proxy.rules.push({ path: '/stalled/model.bin', stallAfterBytes: 1000, times: 5 });
  const ws = await storage();
  const started = Date.now();
  const r = await runCli(['fetch', '--network-timeout', '1'], env(ws, `${proxy.url}/stalled/model.bin`, { MODEL_SYNC_RETRY_ATTEMPTS: '2' }));
  await proxy.stop();
  assert.equal(r.code, EXIT.transient, r.stderr);
  assert.match(r.termination, /no data for 1 s/);
  assert.equal(proxy.requests.filter((q) => q.path === '/stalled/model.bin').length, 2, 'two attempts in all');
  assert.ok(Date.now() - started < 30_000, 'gave up within seconds, not the default two minutes');
  assert.deepEqual(await readdir(path.join(ws, 'model')), [], 'nothing half-written in model/');
});

test('a re-run skips an unchanged file and an unchanged archive', async () => {
  for (const [p, expected] of [
    ['/files/model.safetensors', 'already complete, skipping'],
    ['/files/model.tar', 'already complete, skipping: every file of the unchanged archive is in place'],
  ] as const) {
    const ws = await storage();
    assert.equal((await runCli(['fetch'], env(ws, `${web.url}${p}`))).code, 0);
    const again = await runCli(['fetch'], env(ws, `${web.url}${p}`));
    assert.equal(again.code, 0, again.stderr);
    assert.ok(logLines(again.stderr).some((l) => l.msg === expected), `${p}: ${again.stderr}`);
    assert.ok((await readInventory(ws)).files.length >= 1);
  }
});

test('user:password in the URL becomes Basic auth', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, `http://alice:s3cr3t-pass@${web.url.slice('http://'.length)}/private/model.bin`));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await readFile(path.join(ws, 'model/model.bin'))).equals(config));
});

test('HTTP errors map to exit codes and name the URL', async () => {
  const ws = await storage();
  const missing = await runCli(['fetch'], env(ws, `${web.url}/missing/model.bin`));
  assert.equal(missing.code, EXIT.notFound);
  assert.ok(missing.termination.includes(`${web.url}/missing/model.bin`), missing.termination);
  for (const p of ['/broken/truncated.tar', '/broken/garbage.zip', '/broken/garbage.tar.gz']) {
    const broken = await runCli(['fetch'], env(ws, `${web.url}${p}`));
    assert.equal(broken.code, EXIT.integrity, `${p}: ${broken.stderr}`);
    assert.ok(broken.termination.includes(p), broken.termination);
  }
  const forbidden = await runCli(['fetch'], env(ws, `${web.url}/forbidden/model.bin`));
  assert.equal(forbidden.code, EXIT.auth);
  const noName = await runCli(['fetch'], env(ws, `${web.url}/`));
  assert.equal(noName.code, EXIT.config);
  assert.match(noName.termination, /--source-uri \/ MODEL_SYNC_SOURCE_URI/);
  const noUri = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri' });
  assert.equal(noUri.code, EXIT.config);
  assert.match(noUri.termination, /--source-uri \/ MODEL_SYNC_SOURCE_URI/);
  const badScheme = await runCli(['fetch'], env(ws, 'ftp://example.com/model.bin'));
  assert.equal(badScheme.code, EXIT.config);
  assert.match(badScheme.termination, /unsupported scheme "ftp:\/\/"/);
});

test('hostile archive entries are refused with the unsafe exit code; nothing lands outside model/', async () => {
  const cases: Array<[string, RegExp]> = [
    ['dotdot.tar', /entry "\.\.\/evil\.txt".*contains "\.\."/],
    ['absolute.tar', /entry "\/tmp\/evil-absolute\.txt".*absolute/],
    ['symlink-out.tar', /entry "link".*leaves the workspace/],
    ['symlink-abs.tar', /entry "passwd".*absolute path "\/etc\/passwd"/],
    ['symlink-dir-then-file.tar', /entry "up".*leaves the workspace/],
    ['hardlink-out.tar', /entry "h".*contains "\.\."/],
    ['device.tar', /entry "null".*CharacterDevice/],
    ['fifo.tar', /entry "pipe".*FIFO/],
    ['dotdot.zip', /entry "\.\.\/evil\.txt".*contains "\.\."/],
    ['absolute.zip', /entry "\/tmp\/evil-absolute\.txt".*absolute/],
    ['symlink-out.zip', /entry "link".*leaves the workspace/],
  ];
  for (const [name, pattern] of cases) {
    const ws = await storage();
    const r = await runCli(['fetch'], env(ws, `${web.url}/hostile/${name}`));
    assert.equal(r.code, EXIT.unsafe, `${name}: ${r.stderr}`);
    assert.match(r.termination, pattern, name);
    assert.match(r.termination, /^refusing archive http:\/\/127\.0\.0\.1:\d+\/hostile\//, name);
    const outside = (await listAll(path.dirname(ws))).filter((f) => !f.startsWith('ws/model/') && !f.startsWith('ws/.model-sync/'));
    assert.deepEqual(outside, [], `${name}: nothing outside the workspace`);
    const inModel = await listAll(path.join(ws, 'model'));
    assert.ok(inModel.every((f) => f === 'ok.txt'), `${name}: only the harmless entry: ${inModel}`);
  }
  await assert.rejects(readFile('/tmp/evil-absolute.txt'));
});
