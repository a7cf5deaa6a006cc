// sources/stream-source.ts: each source's files read as streams from any byte offset (the source
// side of the streaming `all`), against RGW, the Hub stand-in, a web server and local folders.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { RGW_ACCESS_KEY, RGW_SECRET_KEY } from '../dev/rgw.js';
import { tempDir } from '../dev/cli.js';
import { ModelSyncError } from '../src/errors.js';
import type { ImageEndpoint } from '../src/oci/credentials.js';
import type { S3Settings } from '../src/s3/client.js';
import type { FetchContext } from '../src/sources/session.js';
import { openStreamSource, type StreamableSource, type StreamSource } from '../src/sources/stream-source.js';
import type { UriSource } from '../src/sources/uri.js';
import { Workspace } from '../src/workspace/workspace.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { serveHfRepo, startHttpServer, type Route, type TestHttpServer } from './support/http-server.js';
import { useRgw } from './support/rgw.js';

const run = promisify(execFile);
const rgw = useRgw();
let proxy: FaultProxy;
let web: TestHttpServer;
let cdn: RangeServer;
let ws: Workspace;
const temps: string[] = [];
const logs: Array<Record<string, unknown>> = [];

// Small parts, so that a 3 MiB object is read as 13 ranged parts (4 in the window).
const TUNING = { partSize: 256 * 1024, threshold: 256 * 1024 };
const small = randomBytes(100_000);
const multi = randomBytes(3 * 1024 * 1024 + 12_345);
const weights = randomBytes(300_000);
const HF_TOKEN = 'hf_streamsourcetesttoken';

before(async () => {
  const s3 = await rgw.ready;
  await s3.put('stream/config.json', small);
  await s3.put('stream/weights/model.bin', multi);
  await s3.put('changing/model.bin', multi);
  await s3.put('empty-folder-marker/', '');
  proxy = await startFaultProxy(s3.endpoint);
  web = await startHttpServer();
  cdn = await startRangeServer();
  serveHfRepo(web, 'acme/stream', 'main', [
    { path: 'config.json', body: Buffer.from('{"model_type":"test"}') },
    { path: 'weights/model.safetensors', body: weights, lfs: true },
  ], { token: HF_TOKEN, cdn });
  serveHfRepo(web, 'acme/tampered', 'main', [{ path: 'model.safetensors', body: weights, lfs: true }], { cdn });
  serveHfRepo(web, 'acme/hostile', 'main', [{ path: '../escape.txt', body: Buffer.from('x') }]);
  serveHfRepo(web, 'acme/twice', 'main', [
    { path: 'a/b.txt', body: Buffer.from('one') },
    { path: 'a//b.txt', body: Buffer.from('two') },
  ]);
  web.routes.set('/files/model.gguf', { body: small });
  web.routes.set('/files/model.tar.gz', { body: small });
  cdn.routes.set('/chunked/model.bin', { body: small, chunked: true });
  ws = await new Workspace(await temp()).init();
});

after(async () => {
  await proxy?.stop();
  await web?.stop();
  await cdn?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function temp(): Promise<string> {
  const dir = await tempDir('ms-stream-');
  temps.push(dir);
  return dir;
}

function context(overrides: Partial<FetchContext> = {}): FetchContext {
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return {
    workspace: ws,
    log,
    concurrency: 2,
    progressIntervalSeconds: 0,
    network: { idleTimeoutMs: 10_000, retryAttempts: 3 },
    archiveLimits: { maxRatio: 100, maxBytes: 1e12, ratioSetting: '--archive-max-ratio', bytesSetting: '--archive-max-bytes' },
    ...overrides,
  };
}

function s3Source(key: string, endpoint = rgw().endpoint, secret = RGW_SECRET_KEY): StreamableSource {
  const s3: S3Settings = { bucket: rgw().bucket, key, region: 'us-east-1', endpoint, accessKeyId: RGW_ACCESS_KEY, secretAccessKey: secret };
  return { type: 's3', s3 };
}

function uriSource(uri: string, extra: Partial<UriSource> = {}): StreamableSource {
  return { type: 'uri', uri: { uri, setting: '--source-uri / MODEL_SYNC_SOURCE_URI', pvcMountRoot: '/mnt/pvc', hf: { endpoint: web.url, token: HF_TOKEN }, ...extra } };
}

async function streamOf(source: StreamableSource, ctx = context()): Promise<StreamSource> {
  const choice = await openStreamSource(ctx, source, TUNING);
  assert.equal(choice.kind, 'stream', choice.kind === 'stage' ? choice.reason : '');
  return (choice as { source: StreamSource }).source;
}

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function file(source: StreamSource, p: string) {
  const f = source.files.find((x) => x.path === p);
  assert.ok(f, `${p} is listed`);
  return f;
}

const integrity = (pattern: RegExp) => (err: unknown) => err instanceof ModelSyncError && err.kind === 'integrity' && pattern.test(err.message);

// --- S3 -----------------------------------------------------------------------------------------

test('S3: files in path order with sizes and ETags; open(0) and open(k) give the object bytes, small and ranged', async () => {
  const source = await streamOf(s3Source('stream'));
  try {
    assert.equal(source.label, `s3://${rgw().bucket}/stream`);
    assert.deepEqual(source.files.map((f) => [f.path, f.size]), [['config.json', small.length], ['weights/model.bin', multi.length]]);
    assert.match(String(file(source, 'weights/model.bin').identity.etag), /^"[0-9a-f]{32}"$/);
    assert.deepEqual(await bytes(await file(source, 'config.json').open(0)), small);
    assert.deepEqual(await bytes(await file(source, 'config.json').open(77_777)), small.subarray(77_777));
    const big = file(source, 'weights/model.bin');
    assert.deepEqual(await bytes(await big.open(0)), multi);
    const k = 1_000_003; // inside the fourth part
    assert.deepEqual(await bytes(await big.open(k)), multi.subarray(k));
    assert.equal((await bytes(await big.open(multi.length))).length, 0);
  } finally {
    source.close();
  }
});

test('S3: an object replaced during a read fails as integrity (If-Match), naming it', async () => {
  await rgw().put('changing/model.bin', multi);
  const source = await streamOf(s3Source('changing'));
  try {
    const stream = await file(source, 'model.bin').open(0);
    const reader = stream[Symbol.asyncIterator]();
    assert.equal((await reader.next()).done, false);
    // Same size, other bytes: the parts asked after this carry If-Match with the old ETag.
    await rgw().put('changing/model.bin', randomBytes(multi.length));
    await assert.rejects(async () => {
      for (let r = await reader.next(); !r.done; r = await reader.next());
    }, integrity(/changing\/model\.bin changed while it was read/));
  } finally {
    source.close();
  }
});

test('S3: a body cut mid-way resumes with a Range from the byte reached, small and ranged', async () => {
  const source = await streamOf(s3Source('stream', proxy.url));
  try {
    proxy.rules.length = 0;
    proxy.requests.length = 0;
    const objectPath = `/${rgw().bucket}/stream/weights/model.bin`;
    // The third part GET is cut after 10,000 bytes.
    proxy.rules.push({ method: 'GET', path: objectPath, skip: 2, resetAfterBytes: 10_000 });
    assert.deepEqual(await bytes(await file(source, 'weights/model.bin').open(0)), multi);
    const ranges = proxy.requests.filter((r) => r.path === objectPath).map((r) => r.headers.range);
    const resumed = ranges.filter((r) => Number(/^bytes=(\d+)-/.exec(r ?? '')?.[1]) % TUNING.partSize === 10_000);
    assert.equal(resumed.length, 1, `one part resumed at the byte reached: ${ranges.join(', ')}`);
    assert.equal(ranges.length, 14, 'thirteen parts and one resumption');

    proxy.rules.push({ method: 'GET', path: `/${rgw().bucket}/stream/config.json`, resetAfterBytes: 30_000 });
    proxy.requests.length = 0;
    assert.deepEqual(await bytes(await file(source, 'config.json').open(0)), small);
    const asked = proxy.requests.filter((r) => r.path.endsWith('/config.json')).map((r) => r.headers.range);
    assert.deepEqual(asked, [undefined, `bytes=30000-${small.length - 1}`]);
  } finally {
    source.close();
  }
});

test('S3: the signal aborts the requests of an open read', async () => {
  const source = await streamOf(s3Source('stream', proxy.url));
  try {
    proxy.rules.length = 0;
    proxy.rules.push({ method: 'GET', delayMs: 5_000, times: 100 });
    const stop = new AbortController();
    const started = Date.now();
    const stream = await file(source, 'weights/model.bin').open(0, stop.signal);
    setTimeout(() => stop.abort(), 200);
    await assert.rejects(bytes(stream), (err: Error) => err.name === 'AbortError' || /abort/i.test(err.message));
    assert.ok(Date.now() - started < 4_000, 'ended at once, not after the delayed answers');
  } finally {
    proxy.rules.length = 0;
    source.close();
  }
});

test('S3: a missing source, an empty bucket prefix and a wrong secret fail as fetch fails', async () => {
  await assert.rejects(openStreamSource(context(), s3Source('no/such/thing'), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'notFound' && /no object with this key and no objects under/.test(err.message));
  await assert.rejects(openStreamSource(context(), s3Source('empty-folder-marker'), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'notFound');
  await assert.rejects(openStreamSource(context(), s3Source('stream', undefined, 'wrong-secret'), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'auth');
});

test('S3: reading a 512 MiB object through open(0) keeps memory bounded', { timeout: 300_000 }, async (t) => {
  const body = Buffer.allocUnsafe(512 * 1024 * 1024);
  randomFillSync(body);
  const expected = createHash('sha256').update(body).digest('hex');
  await rgw().put('large/model.bin', body);
  // In a process of its own, so that this file's buffers do not count; default tuning (64 MiB).
  const script = `
    import { createHash } from 'node:crypto';
    import { pino } from 'pino';
    import { openStreamSource } from ${JSON.stringify(path.resolve('src/sources/stream-source.ts'))};
    import { Workspace } from ${JSON.stringify(path.resolve('src/workspace/workspace.ts'))};
    const ctx = { workspace: new Workspace(process.argv[1]), log: pino({ level: 'warn' }), concurrency: 4, progressIntervalSeconds: 0,
      network: { idleTimeoutMs: 30000, retryAttempts: 3 }, archiveLimits: { maxRatio: 100, maxBytes: 1e12, ratioSetting: '', bytesSetting: '' } };
    const s3 = { bucket: ${JSON.stringify(rgw().bucket)}, key: 'large/model.bin', region: 'us-east-1', endpoint: ${JSON.stringify(rgw().endpoint)},
      accessKeyId: ${JSON.stringify(RGW_ACCESS_KEY)}, secretAccessKey: ${JSON.stringify(RGW_SECRET_KEY)} };
    const choice = await openStreamSource(ctx, { type: 's3', s3 }, { partSize: 64 * 1024 * 1024, threshold: 64 * 1024 * 1024 });
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of await choice.source.files[0].open(0)) { hash.update(chunk); n += chunk.length; }
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    choice.source.close();
    console.log(JSON.stringify({ bytes: n, sha256: hash.digest('hex'), growth: peak - base }));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ws.root], { maxBuffer: 1 << 20 });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as { bytes: number; sha256: string; growth: number };
  t.diagnostic(`RSS growth ${Math.round(result.growth / 1024 / 1024)} MiB`);
  assert.equal(result.bytes, body.length);
  assert.equal(result.sha256, expected);
  assert.ok(result.growth < 100 * 1024 * 1024, `RSS grew by ${Math.round(result.growth / 1024 / 1024)} MiB`);
});

// --- Hugging Face -------------------------------------------------------------------------------

test('Hugging Face: listed sizes, open(k) asks the CDN with a Range, the token stays at the Hub', async () => {
  const source = await streamOf(uriSource('hf://acme/stream'));
  try {
    assert.equal(source.label, 'hf://acme/stream:main');
    assert.deepEqual(source.files.map((f) => [f.path, f.size]), [['config.json', 21], ['weights/model.safetensors', weights.length]]);
    assert.equal(file(source, 'weights/model.safetensors').identity.etag, createHash('sha256').update(weights).digest('hex'));
    cdn.requests.length = 0;
    assert.deepEqual(await bytes(await file(source, 'weights/model.safetensors').open(0)), weights);
    assert.deepEqual(await bytes(await file(source, 'weights/model.safetensors').open(123_456)), weights.subarray(123_456));
    assert.deepEqual(cdn.requests.map((r) => r.range), [undefined, 'bytes=123456-']);
    assert.ok(cdn.requests.every((r) => r.authorization === undefined), 'no token to the CDN');
  } finally {
    source.close();
  }
});

test('Hugging Face: a body cut mid-way resumes; bytes that do not match the LFS sha256 fail as integrity', async () => {
  const source = await streamOf(uriSource('hf://acme/stream'));
  try {
    const [route] = [...cdn.routes.entries()].filter(([p]) => p.endsWith('/weights/model.safetensors'));
    route![1].cutOnceAfter = 50_000;
    cdn.requests.length = 0;
    assert.deepEqual(await bytes(await file(source, 'weights/model.safetensors').open(0)), weights);
    assert.deepEqual(cdn.requests.map((r) => r.range), [undefined, 'bytes=50000-']);
  } finally {
    source.close();
  }
  const tampered = await streamOf(uriSource('hf://acme/tampered'));
  try {
    const [route] = [...cdn.routes.entries()].filter(([p]) => p.endsWith('/model.safetensors') && !p.includes('weights'));
    const altered = Buffer.from(weights);
    altered[1000] = altered[1000]! ^ 0xff;
    route![1].body = altered;
    await assert.rejects(bytes(await tampered.files[0]!.open(0)), integrity(/acme\/tampered\/model\.safetensors.*sha256 [0-9a-f]{64} differs from the listed/));
    // A read from an offset cannot be checked against the whole file's sha256.
    assert.deepEqual(await bytes(await tampered.files[0]!.open(2000)), altered.subarray(2000));
  } finally {
    tampered.close();
  }
});

test('Hugging Face: unknown, hostile and doubled names fail as fetch fails', async () => {
  await assert.rejects(openStreamSource(context(), uriSource('hf://acme/unknown'), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'notFound' && /acme\/unknown revision main .*: not found/.test(err.message));
  await assert.rejects(openStreamSource(context(), uriSource('hf://acme/stream', { hf: { endpoint: web.url, token: 'hf_wrongwrongwrong' } }), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'auth');
  await assert.rejects(openStreamSource(context(), uriSource('hf://acme/hostile'), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'unsafe' && /contains "\.\."/.test(err.message));
  await assert.rejects(openStreamSource(context(), uriSource('hf://acme/twice'), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'unsafe' && /both map to model\/a\/b\.txt/.test(err.message));
});

// --- http(s), OCI -------------------------------------------------------------------------------

test('http: one file streams with its size (a server ignoring Range is skipped forward); an archive or an unknown size is staged', async () => {
  const source = await streamOf(uriSource(`${web.url}/files/model.gguf`));
  try {
    assert.equal(source.label, `${web.url}/files/model.gguf`);
    assert.deepEqual(source.files.map((f) => [f.path, f.size, f.identity.contentLength]), [['model.gguf', small.length, small.length]]);
    assert.deepEqual(await bytes(await source.files[0]!.open(0)), small);
    assert.deepEqual(await bytes(await source.files[0]!.open(40_000)), small.subarray(40_000));
  } finally {
    source.close();
  }
  assert.deepEqual(await openStreamSource(context(), uriSource(`${web.url}/files/model.tar.gz`), TUNING), { kind: 'stage', reason: 'a tar archive is unpacked on the volume' });
  assert.deepEqual(await openStreamSource(context(), uriSource(`${cdn.url}/chunked/model.bin`), TUNING), { kind: 'stage', reason: 'the server does not tell the size of the file' });
  await assert.rejects(openStreamSource(context(), uriSource(`${web.url}/files/missing.bin`), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'notFound');
});

test('OCI: staged, its files sit inside tar layers', async () => {
  const choice = await openStreamSource(context(), { type: 'oci', image: {} as ImageEndpoint }, TUNING);
  assert.equal(choice.kind, 'stage');
  assert.match((choice as { reason: string }).reason, /OCI source's files sit inside its tar layers/);
});

// --- local --------------------------------------------------------------------------------------

test('local: files in byte order, links inside followed, open(k), a changed file fails as integrity, a link out is refused', async () => {
  const root = await temp();
  const dir = path.join(root, 'model');
  await mkdir(path.join(dir, 'a'), { recursive: true });
  await writeFile(path.join(dir, 'a', 'b.bin'), multi);
  await writeFile(path.join(dir, 'a-c.txt'), 'hyphen sorts before slash');
  await symlink('a/b.bin', path.join(dir, 'linked.bin'));
  const source = await streamOf(uriSource(dir));
  try {
    assert.equal(source.label, `file://${dir}`);
    assert.deepEqual(source.files.map((f) => f.path), ['a-c.txt', 'a/b.bin', 'linked.bin']);
    assert.deepEqual(await bytes(await file(source, 'linked.bin').open(0)), multi);
    assert.deepEqual(await bytes(await file(source, 'a/b.bin').open(999_999)), multi.subarray(999_999));
    assert.equal(typeof file(source, 'a/b.bin').identity.mtimeMs, 'number');
    await writeFile(path.join(dir, 'a-c.txt'), 'now longer than it was listed');
    await assert.rejects(file(source, 'a-c.txt').open(0), integrity(/a-c\.txt changed since it was listed/));
  } finally {
    source.close();
  }
  const outside = path.join(root, 'secret.txt');
  await writeFile(outside, 'not part of the model');
  const leaky = path.join(root, 'leaky');
  await mkdir(leaky);
  await writeFile(path.join(leaky, 'ok.txt'), 'fine');
  await symlink(outside, path.join(leaky, 'out.txt'));
  await assert.rejects(openStreamSource(context(), uriSource(leaky), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'unsafe' && /out\.txt.*outside the source root/.test(err.message));
  const empty = path.join(root, 'empty');
  await mkdir(empty);
  await assert.rejects(openStreamSource(context(), uriSource(empty), TUNING), (err: unknown) => err instanceof ModelSyncError && err.kind === 'notFound' && /holds no files/.test(err.message));
});

// --- a CDN stand-in that honours Range -----------------------------------------------------------

interface RangeRoute extends Route {
  /** Cut the next answer after this many body bytes (then cleared). */
  cutOnceAfter?: number;
  /** Send no Content-Length. */
  chunked?: boolean;
}

interface RangeServer extends TestHttpServer {
  routes: Map<string, RangeRoute>;
  requests: Array<TestHttpServer['requests'][number] & { range?: string }>;
}

/** What serveHfRepo needs of a CDN (routes, url), answering `Range: bytes=N-` with 206. */
async function startRangeServer(): Promise<RangeServer> {
  const routes = new Map<string, RangeRoute>();
  const requests: RangeServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ method: req.method ?? 'GET', path: url.pathname, url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(req.headers.range ? { range: req.headers.range } : {}) });
    const route = routes.get(url.pathname);
    if (!route) return void res.writeHead(404).end();
    const body = Buffer.from(route.body ?? '');
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const part = body.subarray(from);
    const headers: Record<string, string> = route.chunked ? {} : { 'content-length': String(part.length) };
    if (req.headers.range) headers['content-range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
    res.writeHead(req.headers.range ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();
    if (route.cutOnceAfter !== undefined) {
      const cut = route.cutOnceAfter;
      delete route.cutOnceAfter;
      return void res.write(part.subarray(0, cut), () => res.destroy());
    }
    res.end(part);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    routes,
    requests,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
