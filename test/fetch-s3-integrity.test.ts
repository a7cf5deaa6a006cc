// fetch from S3 when the answers are wrong: a proxy that ignores Range, bytes altered on the way,
// a checksum that does not match, and 503s that pass. One RGW (dev/rgw.ts) and one fault proxy in
// front of it, which forwards the client's Host header so that SigV4 signatures still hold.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { Upload } from '@aws-sdk/lib-storage';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir } from '../dev/cli.js';
import { startRgw, type Rgw } from '../dev/rgw.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { logLines, readInventory, readTree, sha256 } from './support/fetch-helpers.js';
import { s3FetchEnv } from './support/s3-fetch-env.js';

let s3: Rgw;
let proxy: FaultProxy;
const big = randomBytes(5 * 1024 * 1024 + 4321); // 6 ranged parts of 1 MiB
const small = randomBytes(300_000); // one GET
const multipart = randomBytes(11 * 1024 * 1024); // 3 parts of 5 MiB: ETag "<hex>-3"
const temps: string[] = [];
const RANGED = { MODEL_SYNC_S3_PART_SIZE: String(1024 * 1024), MODEL_SYNC_S3_RANGED_THRESHOLD: String(1024 * 1024), MODEL_SYNC_FETCH_CONCURRENCY: '3' };

before(async () => {
  s3 = await startRgw();
  proxy = await startFaultProxy(s3.endpoint);
  await s3.put('large/blob.bin', big);
  await s3.put('small/weights.bin', small);
  await new Upload({ client: s3.client, params: { Bucket: s3.bucket, Key: 'multi/model.bin', Body: multipart }, partSize: 5 * 1024 * 1024 }).done();
});

beforeEach(() => {
  proxy.rules.length = 0;
  proxy.requests.length = 0;
});

after(async () => {
  await proxy?.stop();
  await s3?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await tempDir('ms-fetch-s3i-');
  temps.push(dir);
  return path.join(dir, 'ws');
}

function env(storagePath: string, key: string, extra: Record<string, string> = {}): Record<string, string> {
  return s3FetchEnv(s3.bucket, proxy.url, storagePath, key, extra, s3);
}

/** A refused file is never complete: nothing under model/, and fetch.json (if written) does not list it. */
async function assertNothingKept(ws: string, file: string): Promise<void> {
  assert.deepEqual([...(await readTree(path.join(ws, 'model'))).keys()], [], 'nothing under model/');
  const record = await readFile(path.join(ws, '.model-sync/fetch.json'), 'utf8').then((t) => JSON.parse(t) as { complete?: boolean; files: Record<string, unknown> }, () => undefined);
  assert.equal(record?.files[file], undefined, 'fetch.json does not list the file');
  assert.notEqual(record?.complete, true);
}

test('a cache that ignores Range (200 with the whole object) fails a ranged download with exit 7, naming the object and the part', async () => {
  const cache = await startRangeIgnoringCache(s3.endpoint, '/models/large/blob.bin', big);
  try {
    const ws = await storage();
    const r = await runCli(['fetch'], s3FetchEnv(s3.bucket, cache.url, ws, 'large/blob.bin', RANGED, s3));
    assert.equal(r.code, EXIT.integrity, r.stderr);
    assert.match(r.termination, /s3:\/\/models\/large\/blob\.bin part \d of 6: asked for bytes \d+-\d+ and got HTTP 200 instead of 206/);
    assert.ok(cache.rangedGets > 0, 'the client did ask for a range');
    await assertNothingKept(ws, 'blob.bin');
  } finally {
    await cache.stop();
  }
});

test('a ranged answer without the Content-Range of the asked bytes fails with exit 7', async () => {
  proxy.rules.push({ method: 'GET', path: '/models/large/blob.bin', stripResponseHeaders: ['content-range'], times: 1000 });
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'large/blob.bin', RANGED));
  assert.equal(r.code, EXIT.integrity, r.stderr);
  assert.match(r.termination, /part \d of 6: asked for bytes \d+-\d+ of 5247201 and got Content-Range ""/);
  await assertNothingKept(ws, 'blob.bin');
});

test('a single-GET body that differs from its ETag (MD5) fails with exit 7 saying what differed', async () => {
  proxy.rules.push({ method: 'GET', path: '/models/small/weights.bin', corruptByteAt: 1234, times: 1000 });
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'small/weights.bin'));
  assert.equal(r.code, EXIT.integrity, r.stderr);
  assert.match(r.termination, /s3:\/\/models\/small\/weights\.bin: the downloaded bytes have MD5 [0-9a-f]{32} but the object's ETag is "[0-9a-f]{32}"/);
  await assertNothingKept(ws, 'weights.bin');
});

test('one altered byte in one ranged part is caught by the in-order MD5 (exit 7)', async () => {
  proxy.rules.push({ method: 'GET', path: '/models/large/blob.bin', corruptByteAt: 100, times: 1 });
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'large/blob.bin', RANGED));
  assert.equal(r.code, EXIT.integrity, r.stderr);
  assert.match(r.termination, /large\/blob\.bin: the downloaded bytes have MD5/);
  await assertNothingKept(ws, 'blob.bin');
});

test('a checksum header that does not match the body fails with exit 7; a matching one passes', async () => {
  const right = Buffer.alloc(4);
  right.writeUInt32BE(crc32(small));
  proxy.rules.push({ method: 'GET', path: '/models/small/weights.bin', setResponseHeaders: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'small/weights.bin'));
  assert.equal(r.code, EXIT.integrity, r.stderr);
  assert.match(r.termination, /small\/weights\.bin: the bytes do not match the checksum the server sent/);
  await assertNothingKept(ws, 'weights.bin');

  proxy.rules.push({ method: 'GET', path: '/models/small/weights.bin', setResponseHeaders: { 'x-amz-checksum-crc32': right.toString('base64') } });
  const ok = await runCli(['fetch'], env(ws, 'small/weights.bin'));
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok((await readFile(path.join(ws, 'model/weights.bin'))).equals(small));
  assert.equal(proxy.requests.filter((q) => q.headers['x-amz-checksum-mode'] === 'ENABLED').length, 2, 'a whole-object GET asks for checksums');
});

// RGW, like AWS, gives a multipart upload the MD5 of its part MD5s with `-<parts>` as ETag (on
// the HEAD and on every GET): not an MD5 of the bytes.
test('a multipart-uploaded object (ETag "-3") fetches fine: the MD5 check is skipped', async () => {
  const partSize = 5 * 1024 * 1024;
  const partMd5s = [0, 1, 2].map((i) => createHash('md5').update(multipart.subarray(i * partSize, (i + 1) * partSize)).digest());
  const etag = `"${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-3"`;
  const ws = await storage();
  const r = await runCli(['fetch', '--log-level', 'debug'], env(ws, 'multi/model.bin', RANGED));
  assert.equal(r.code, 0, r.stderr);
  const skipped = logLines(r.stderr).find((l) => l.msg === 'ETag is not an MD5 (multipart upload or none): MD5 check skipped');
  assert.equal(skipped?.etag, etag, "the server's own multipart ETag");
  assert.ok((await readFile(path.join(ws, 'model/model.bin'))).equals(multipart));
  assert.equal((await readInventory(ws)).files[0]!.sha256, sha256(multipart));
});

test('an SSE-KMS object, whose ETag is not its MD5, fetches fine: the MD5 check is skipped', async () => {
  const etag = `"${'ab'.repeat(16)}"`;
  proxy.rules.push({ path: '/models/small/weights.bin', setResponseHeaders: { etag, 'x-amz-server-side-encryption': 'aws:kms' }, times: 1000 });
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'small/weights.bin'));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await readFile(path.join(ws, 'model/weights.bin'))).equals(small));
});

test('503 twice, then the answers pass: the ranged download survives (exit 0) and the file is whole', async () => {
  proxy.rules.push({ method: 'GET', path: '/models/large/blob.bin', status: 503, retryAfter: '0', times: 2 });
  const ws = await storage();
  const r = await runCli(['fetch'], env(ws, 'large/blob.bin', RANGED));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(proxy.requests.filter((q) => q.fault?.status === 503).length, 2);
  assert.ok((await readFile(path.join(ws, 'model/blob.bin'))).equals(big));
  assert.equal((await readInventory(ws)).files[0]!.sha256, sha256(big));
});

test('bodies cut mid-way resume from their last byte and pass every check (exit 0)', async () => {
  const right = Buffer.alloc(4);
  right.writeUInt32BE(crc32(small));
  // A whole-object GET with a checksum, cut: taken up with a Range from byte 100000.
  proxy.rules.push({ method: 'GET', path: '/models/small/weights.bin', setResponseHeaders: { 'x-amz-checksum-crc32': right.toString('base64') }, resetAfterBytes: 100_000 });
  // Two ranged parts cut.
  proxy.rules.push({ method: 'GET', path: '/models/large/blob.bin', resetAfterBytes: 300_000, times: 2 });
  const ws = await storage();
  const one = await runCli(['fetch'], env(ws, 'small/weights.bin'));
  assert.equal(one.code, 0, one.stderr);
  assert.ok((await readFile(path.join(ws, 'model/weights.bin'))).equals(small));
  // A reset may drop bytes still in flight, so the resume point is at most 100000.
  const resumedFrom = proxy.requests.map((q) => /^bytes=(\d+)-(\d+)$/.exec(String(q.headers.range ?? ''))).find((m) => m && Number(m[2]) === small.length - 1);
  assert.ok(resumedFrom && Number(resumedFrom[1]) > 0 && Number(resumedFrom[1]) <= 100_000, 'resumed with a Range from its last byte');
  const ws2 = await storage();
  const ranged = await runCli(['fetch'], env(ws2, 'large/blob.bin', RANGED));
  assert.equal(ranged.code, 0, ranged.stderr);
  assert.equal(proxy.requests.filter((q) => q.fault?.resetAfterBytes).length, 3);
  assert.ok((await readFile(path.join(ws2, 'model/blob.bin'))).equals(big));
});

/**
 * A cache in front of the server that ignores Range, as some do: each GET of `objectPath` is
 * answered 200 with the whole object. (The fault proxy cannot play this part by stripping Range:
 * the header is signed, and RGW refuses the changed request.) Everything else is forwarded as sent.
 */
async function startRangeIgnoringCache(upstream: string, objectPath: string, whole: Buffer): Promise<{ url: string; rangedGets: number; stop(): Promise<void> }> {
  const target = new URL(upstream);
  const state = { rangedGets: 0 };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && new URL(req.url ?? '/', 'http://cache').pathname === objectPath) {
      if (req.headers.range) state.rangedGets++;
      req.resume();
      res.writeHead(200, { 'content-length': whole.length, etag: `"${createHash('md5').update(whole).digest('hex')}"` });
      res.end(whole);
      return;
    }
    const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get rangedGets() {
      return state.rangedGets;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
