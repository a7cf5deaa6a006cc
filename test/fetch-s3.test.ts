// fetch with source-type s3 against Ceph's RADOS Gateway on 127.0.0.1 (dev/rgw.ts), through the built CLI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir } from '../dev/cli.js';
import { freePort } from '../dev/ports.js';
import { startRgw, RGW_ACCESS_KEY, RGW_SECRET_KEY, type Rgw } from '../dev/rgw.js';
import { listAll, logLines, readInventory, readTree, sha256 } from './support/fetch-helpers.js';
import { s3FetchEnv } from './support/s3-fetch-env.js';

let s3: Rgw;
const folder = new Map<string, Buffer>([
  ['config.json', Buffer.from('{"model_type":"test"}')],
  ['weights/part-1.safetensors', randomBytes(300_000)],
  ['weights/deep/er/part-2.bin', randomBytes(70_000)],
  ['empty.txt', Buffer.alloc(0)],
]);
const big = randomBytes(5 * 1024 * 1024 + 12_345);
const temps: string[] = [];

before(async () => {
  s3 = await startRgw();
  for (const [rel, body] of folder) await s3.put(`my-model/${rel}`, body);
  await s3.put('my-model/folder-marker/', ''); // a "folder" object: skipped
  await s3.put('my-model2/not-mine.bin', 'must not be fetched with key my-model');
  await s3.put('single/model.gguf', 'one object');
  await s3.put('large/blob.bin', big);
  await s3.put('evil/ok.txt', 'fine');
  await s3.put('evil/sub/..', 'hostile');
  await s3.put('evil2/..\\..\\escaped.txt', 'hostile');
});

after(async () => {
  await s3?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await tempDir('ms-fetch-s3-');
  temps.push(dir);
  return path.join(dir, 'ws');
}

function env(storagePath: string, key: string, extra: Record<string, string> = {}): Record<string, string> {
  return s3FetchEnv(s3.bucket, s3.endpoint, storagePath, key, extra, s3);
}

test('a prefix with nested keys arrives byte for byte; my-model does not pick up my-model2/', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'my-model'));
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), [...folder.keys()].sort());
  for (const [rel, body] of folder) assert.ok(tree.get(rel)!.equals(body), rel);
  const inv = await readInventory(ws);
  assert.equal(inv.source, `s3://${s3.bucket}/my-model`);
  for (const f of inv.files) assert.equal(f.sha256, sha256(folder.get(f.path)!), f.path);
  const bytes = [...folder.values()].reduce((n, b) => n + b.length, 0);
  assert.equal(inv.totalBytes, bytes);
  assert.deepEqual(JSON.parse(r.stdout), { 'model-files': String(folder.size), 'model-bytes': String(bytes) });
  assert.equal(await readFile(path.join(ws, '.model-sync/results/model-files'), 'utf8'), String(folder.size));
  const record = JSON.parse(await readFile(path.join(ws, '.model-sync/fetch.json'), 'utf8'));
  assert.equal(record.complete, true);
  assert.match(record.files['weights/part-1.safetensors'].etag, /^"[0-9a-f]+"$/);
});

test('a key naming a single object lands as model/<basename>; a trailing slash means a folder', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'single/model.gguf'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...(await readTree(path.join(ws, 'model'))).entries()].map(([k, v]) => [k, v.toString()]), [['model.gguf', 'one object']]);
  const ws2 = await storage();
  const r2 = await runCli(['fetch'], env(ws2, 'single/'));
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual([...(await readTree(path.join(ws2, 'model'))).keys()], ['model.gguf']);
});

test('an object above the ranged threshold is fetched as parallel ranged GETs into one file', async () => {
  const ws = await storage();
  const r = await runCli(['fetch', '--log-level', 'debug'], env(ws, 'large/blob.bin', { MODEL_SYNC_S3_PART_SIZE: String(1024 * 1024), MODEL_SYNC_S3_RANGED_THRESHOLD: String(1024 * 1024), MODEL_SYNC_FETCH_CONCURRENCY: '3' }));
  assert.equal(r.code, 0, r.stderr);
  const ranged = logLines(r.stderr).find((l) => l.msg === 'ranged download');
  assert.equal(ranged?.parts, 6, 'the object was split into 1 MiB parts');
  const got = await readFile(path.join(ws, 'model/blob.bin'));
  assert.equal(got.length, big.length);
  assert.ok(got.equals(big));
  assert.equal((await readInventory(ws)).files[0]!.sha256, sha256(big), 'sha256 over parts in order');
});

test('a re-run after an interrupted download skips complete files and finishes the rest', async () => {
  const ws = await storage();
  const first = await runCli(['fetch'], env(ws, 'my-model'));
  assert.equal(first.code, 0, first.stderr);
  // Simulate the crash: one file never arrived, a partial temp file was left behind.
  await rm(path.join(ws, 'model/weights/deep/er/part-2.bin'));
  await mkdir(path.join(ws, '.model-sync/tmp/fetch'), { recursive: true });
  await writeFile(path.join(ws, '.model-sync/tmp/fetch/0123456789ab-part-2.bin'), randomBytes(1000));
  const again = await runCli(['fetch'], env(ws, 'my-model'));
  assert.equal(again.code, 0, again.stderr);
  const skipped = logLines(again.stderr).filter((l) => l.msg === 'already complete, skipping').map((l) => l.path).sort();
  assert.deepEqual(skipped, ['config.json', 'empty.txt', 'weights/part-1.safetensors']);
  assert.ok(logLines(again.stderr).some((l) => l.msg === 'removing partial downloads of an interrupted run'));
  const tree = await readTree(path.join(ws, 'model'));
  for (const [rel, body] of folder) assert.ok(tree.get(rel)?.equals(body), rel);
  assert.deepEqual(await readdir(path.join(ws, '.model-sync/tmp')).catch(() => []), [], 'no temp files left');
  assert.equal((await readInventory(ws)).files.length, folder.size);
});

test('a re-run fetches again a file whose object changed (new ETag) or whose local copy has another size', async () => {
  const ws = await storage();
  await s3.put('changing/a.bin', 'version one');
  await s3.put('changing/b.bin', 'bbbbbbbbbb');
  assert.equal((await runCli(['fetch'], env(ws, 'changing'))).code, 0);
  await s3.put('changing/a.bin', 'version two'); // same size, new ETag
  await writeFile(path.join(ws, 'model/b.bin'), 'short'); // local copy damaged
  const r = await runCli(['fetch'], env(ws, 'changing'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(logLines(r.stderr).filter((l) => l.msg === 'already complete, skipping'), []);
  assert.equal(await readFile(path.join(ws, 'model/a.bin'), 'utf8'), 'version two');
  assert.equal(await readFile(path.join(ws, 'model/b.bin'), 'utf8'), 'bbbbbbbbbb');
  assert.equal((await readInventory(ws)).files.find((f) => f.path === 'a.bin')?.sha256, sha256('version two'));
});

test('hostile keys are refused with the unsafe exit code, naming bucket and key; nothing is written', async () => {
  for (const [key, bad] of [
    ['evil', 'evil/sub/..'],
    ['evil2', 'evil2/..\\..\\escaped.txt'],
  ] as const) {
    const ws = await storage();
    const r = await runCli(['fetch'], env(ws, key));
    assert.equal(r.code, EXIT.unsafe, r.stderr);
    assert.ok(r.termination.includes(`s3://${s3.bucket}/${bad}`), r.termination);
    assert.deepEqual(await listAll(path.dirname(ws)), [], 'nothing written anywhere');
  }
});

test('missing bucket, missing key, wrong access key and unreachable endpoint have their own exit codes', async () => {
  const ws = await storage();
  const noBucket = await runCli(['fetch'], env(ws, 'my-model', { MODEL_SYNC_SOURCE_AWS_BUCKET: 'no-such-bucket' }));
  assert.equal(noBucket.code, EXIT.notFound, noBucket.stderr);
  assert.match(noBucket.termination, /no-such-bucket/);

  const noKey = await runCli(['fetch'], env(ws, 'nothing/here'));
  assert.equal(noKey.code, EXIT.notFound);
  assert.match(noKey.termination, /s3:\/\/models\/nothing\/here/);

  const wrongKey = await runCli(['fetch'], env(ws, 'my-model', { MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG' }));
  assert.equal(wrongKey.code, EXIT.auth, wrongKey.stderr);
  assert.match(wrongKey.termination, /InvalidAccessKeyId/);
  assert.match(wrongKey.termination, /--source-aws-access-key-id \/ MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID/);

  const port = await freePort(); // nothing listens there
  const down = await runCli(['fetch'], env(ws, 'my-model', { MODEL_SYNC_SOURCE_AWS_ENDPOINT: `http://127.0.0.1:${port}` }));
  assert.equal(down.code, EXIT.transient, down.stderr);
});

test('missing or invalid S3 configuration names the flag and the env var', async () => {
  const ws = await storage();
  const noBucket = await runCli(['fetch'], env(ws, 'my-model', { MODEL_SYNC_SOURCE_AWS_BUCKET: '' }));
  assert.equal(noBucket.code, EXIT.config);
  assert.match(noBucket.termination, /--source-aws-bucket/);
  assert.match(noBucket.termination, /MODEL_SYNC_SOURCE_AWS_BUCKET/);

  const noKey = await runCli(['fetch'], env(ws, '', {}));
  assert.equal(noKey.code, EXIT.config);
  assert.match(noKey.termination, /--source-aws-key \/ MODEL_SYNC_SOURCE_AWS_KEY/);

  const half = await runCli(['fetch'], env(ws, 'my-model', { MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: '' }));
  assert.equal(half.code, EXIT.config);
  assert.match(half.termination, /--source-aws-secret-access-key \/ MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY/);

  const badEndpoint = await runCli(['fetch'], env(ws, 'my-model', { MODEL_SYNC_SOURCE_AWS_ENDPOINT: 'ftp://x' }));
  assert.equal(badEndpoint.code, EXIT.config);
  assert.match(badEndpoint.termination, /--source-aws-endpoint/);

  const badConcurrency = await runCli(['fetch', '--fetch-concurrency', '0'], env(ws, 'my-model'));
  assert.equal(badConcurrency.code, EXIT.config);
  assert.match(badConcurrency.termination, /--fetch-concurrency/);
});

test('S3 settings from a credentials folder work like env vars', async () => {
  const ws = await storage();
  const creds = path.join(path.dirname(ws), 'creds');
  await mkdir(creds);
  await writeFile(path.join(creds, 'AWS_ACCESS_KEY_ID'), `${RGW_ACCESS_KEY}\n`);
  await writeFile(path.join(creds, 'AWS_SECRET_ACCESS_KEY'), `${RGW_SECRET_KEY}\n`);
  await writeFile(path.join(creds, 'AWS_S3_ENDPOINT'), s3.endpoint);
  await writeFile(path.join(creds, 'AWS_S3_BUCKET'), s3.bucket);
  const r = await runCli(['fetch'], {
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH: creds,
    MODEL_SYNC_SOURCE_AWS_KEY: 'single/model.gguf',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(path.join(ws, 'model/model.gguf'), 'utf8'), 'one object');
});
