// The fault proxy the hardening tests put between model-sync and a server: each fault kind does what
// it says, and requests without a rule pass through unchanged.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';

const BODY = Buffer.alloc(64 * 1024, 7);

async function get(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let answer: http.IncomingMessage | undefined;
    const done = (error?: string) =>
      resolve({ status: answer?.statusCode ?? 0, headers: answer?.headers ?? {}, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
    const req = http.get(url, { headers, agent: false }, (res) => {
      answer = res;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (err) => done(err.message));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('stalled')));
    req.on('error', (err) => done(err.message));
  });
}

describe('fault proxy', () => {
  let upstream: http.Server;
  let proxy: FaultProxy;
  before(async () => {
    upstream = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length), 'x-range-seen': req.headers.range ?? 'none', etag: '"e"' });
      res.end(BODY);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    proxy = await startFaultProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  });
  after(async () => {
    await proxy.stop();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('passes requests through unchanged when no rule matches', async () => {
    const r = await get(`${proxy.url}/a`, { range: 'bytes=0-9' });
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(BODY));
    assert.equal(r.headers['x-range-seen'], 'bytes=0-9');
  });

  it('answers a status with Retry-After for as many requests as the rule says', async () => {
    proxy.rules.push({ path: '/b', status: 503, retryAfter: '1', times: 2 });
    assert.equal((await get(`${proxy.url}/b`)).status, 503);
    const second = await get(`${proxy.url}/b`);
    assert.equal(second.status, 503);
    assert.equal(second.headers['retry-after'], '1');
    assert.equal((await get(`${proxy.url}/b`)).status, 200, 'the rule is spent');
  });

  it('strips request and answer headers', async () => {
    proxy.rules.push({ path: '/c', stripRequestHeaders: ['range'], stripResponseHeaders: ['etag'] });
    const r = await get(`${proxy.url}/c`, { range: 'bytes=0-9' });
    assert.equal(r.headers['x-range-seen'], 'none');
    assert.equal(r.headers.etag, undefined);
  });

  it('cuts the connection after N body bytes, and stalls after N bytes', async () => {
    proxy.rules.push({ path: '/d', resetAfterBytes: 1000 });
    const cut = await get(`${proxy.url}/d`);
    assert.ok(cut.error, 'the body ended in an error');
    assert.equal(cut.body.length, 1000);
    proxy.rules.push({ path: '/e', stallAfterBytes: 500 });
    const stalled = await get(`${proxy.url}/e`, {}, 500);
    assert.equal(stalled.error, 'stalled');
    assert.equal(stalled.body.length, 500);
  });

  it('skips the first matching requests, delays, sets answer headers and records status and query', async () => {
    proxy.rules.push({ path: '/f', skip: 1, delayMs: 300, setResponseHeaders: { etag: '"forged"' } });
    const first = await get(`${proxy.url}/f?x=1`);
    assert.equal(first.headers.etag, '"e"', 'the first request is let through');
    const started = Date.now();
    const second = await get(`${proxy.url}/f?x=2`);
    assert.ok(Date.now() - started >= 290, 'the second waited');
    assert.equal(second.headers.etag, '"forged"');
    const seen = proxy.requests.filter((r) => r.path === '/f');
    assert.deepEqual(seen.map((r) => [r.url, r.status, !!r.fault]), [['/f?x=1', 200, false], ['/f?x=2', 200, true]]);
  });

  it('cuts a request body after N bytes: the server got those bytes, the client a reset', async () => {
    let received = 0;
    const sink = http.createServer((req, res) => {
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const cutting = await startFaultProxy(`http://127.0.0.1:${(sink.address() as AddressInfo).port}`);
    try {
      cutting.rules.push({ method: 'PATCH', resetRequestAfterBytes: 1000 });
      const error = await new Promise<string | undefined>((resolve) => {
        const req = http.request(`${cutting.url}/u`, { method: 'PATCH', agent: false, headers: { 'content-length': String(BODY.length) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(undefined));
        });
        req.on('error', (err) => resolve(err.message));
        req.end(BODY);
      });
      assert.ok(error, 'the client saw the connection cut');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(received, 1000);
      assert.deepEqual(cutting.requests.map((r) => [r.method, r.status, r.requestBytes]), [['PATCH', 0, 1000]]);
    } finally {
      await cutting.stop();
      sink.closeAllConnections();
      await new Promise((resolve) => sink.close(resolve));
    }
  });
});
