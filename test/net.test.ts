// The HTTP layer (src/net): redirects and credentials, early error answers, idle timeouts, URL
// display, the one retry policy (Retry-After, transient list) and its use by the S3 SDK and the
// Model Registry client, against small local servers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../src/errors.js';
import { ModelRegistryClient } from '../src/model-registry/client.js';
import { AgentPool } from '../src/net/policy.js';
import { drain, readBody, send } from '../src/net/request.js';
import { isTransient, parseRetryAfter, retryDelay, withRetry } from '../src/net/retry.js';
import { displayUrl } from '../src/net/url.js';
import { createS3Client } from '../src/s3/client.js';
import { downloadObject } from '../src/s3/download.js';
import { Limiter } from '../src/util/concurrency.js';
import { memoryLogger } from './support/oci-images.js';
import { tempDir } from '../dev/cli.js';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

async function serve(handler: http.RequestListener): Promise<{ url: string; seen: Seen[]; stop: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('send', () => {
  let cdn: Awaited<ReturnType<typeof serve>>;
  let origin: Awaited<ReturnType<typeof serve>>;
  const pool = new AgentPool({ tlsVerify: true });
  before(async () => {
    cdn = await serve((_req, res) => res.end('payload'));
    origin = await serve((req, res) => {
      if (req.url === '/to-cdn') res.writeHead(302, { location: `${cdn.url}/file` }).end();
      else if (req.url === '/here') res.writeHead(301, { location: '/to-cdn' }).end();
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (req.url === '/ftp') res.writeHead(302, { location: 'ftp://example.com/x' }).end();
      else if (req.url === '/early') res.writeHead(413).end();
      else if (req.url === '/silent') req.resume();
      else res.writeHead(404).end();
    });
  });
  after(async () => {
    pool.close();
    await cdn.stop();
    await origin.stop();
  });

  it('follows redirects, keeps Authorization on the same origin and drops it on another', async () => {
    const res = await send({ method: 'GET', url: new URL(`${origin.url}/here`), headers: { Authorization: 'Bearer secret-token' }, maxRedirects: 5 }, pool);
    assert.equal(res.status, 200);
    assert.equal((await readBody(res)).toString(), 'payload');
    assert.equal(res.url.toString(), `${cdn.url}/file`);
    assert.deepEqual(origin.seen.map((s) => s.authorization), ['Bearer secret-token', 'Bearer secret-token']);
    assert.equal(cdn.seen.at(-1)?.authorization, undefined);
  });

  it('returns a redirect as it is unless asked to follow, and bounds and checks the hops', async () => {
    const plain = await send({ method: 'GET', url: new URL(`${origin.url}/to-cdn`) }, pool);
    await drain(plain);
    assert.equal(plain.status, 302);
    await assert.rejects(send({ method: 'GET', url: new URL(`${origin.url}/loop`), maxRedirects: 3 }, pool), (err: Error) => err instanceof ModelSyncError && err.kind === 'notFound' && /more than 3 redirects/.test(err.message));
    await assert.rejects(send({ method: 'GET', url: new URL(`${origin.url}/ftp`), maxRedirects: 3 }, pool), (err: Error) => err instanceof ModelSyncError && err.kind === 'unsafe' && /ftp:/.test(err.message));
  });

  it('stops reading an upload body when an early error answer arrives', async () => {
    let destroyed = false;
    const open = () => {
      const body = new Readable({ read() { setTimeout(() => this.push(Buffer.alloc(64 * 1024)), 5); } });
      body.on('close', () => (destroyed = true));
      return body;
    };
    const res = await send({ method: 'PUT', url: new URL(`${origin.url}/early`), body: { length: 1024 * 1024 * 1024, open } }, pool);
    await drain(res);
    assert.equal(res.status, 413);
    await new Promise((r) => setImmediate(r));
    assert.ok(destroyed, 'the source stream was destroyed');
  });

  it('fails a silent connection as ETIMEDOUT after the idle timeout', async () => {
    const pool = new AgentPool({ tlsVerify: true, idleTimeoutMs: 200 });
    try {
      await assert.rejects(send({ method: 'GET', url: new URL(`${origin.url}/silent`) }, pool), (err: NodeJS.ErrnoException) => err.code === 'ETIMEDOUT' && isTransient(err));
    } finally {
      pool.close();
    }
  });
});

describe('URL display', () => {
  it('shows scheme, host, port and path; hides user info and the query', () => {
    assert.equal(displayUrl(new URL('https://u:p@example.com:8443/a/b.bin?sig=abcdefgh#f')), 'https://example.com:8443/a/b.bin?[query hidden]');
    assert.equal(displayUrl('http://example.com/x'), 'http://example.com/x');
  });
});

describe('retry policy', () => {
  it('reads Retry-After as seconds or an HTTP date and caps it at the maximum delay', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString(), Date.now())! > 8000, true);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(retryDelay({ maxDelayMs: 1000 }, 1, 30_000), 1000);
    assert.equal(retryDelay({ attempts: 2 }, 2), undefined);
    const d = retryDelay({ baseDelayMs: 100, jitter: 'equal' }, 3)!;
    assert.ok(d >= 200 && d <= 400, String(d));
  });

  it('classifies by HTTP status first, then by kind, then by network code through causes', () => {
    assert.equal(isTransient(Object.assign(new ModelSyncError('internal', 'x'), { status: 429 })), true);
    assert.equal(isTransient(Object.assign(new ModelSyncError('transient', 'x'), { status: 501 })), false);
    assert.equal(isTransient(new ModelSyncError('transient', 'x')), true);
    assert.equal(isTransient(new Error('wrapped', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })), true);
    assert.equal(isTransient(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })), true);
    assert.equal(isTransient(Object.assign(new Error('nope'), { code: 'ENOENT' })), false);
  });

  it('waits as long as Retry-After says and stops after the attempts', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw Object.assign(new ModelSyncError('transient', 'busy'), { retryAfterMs: 50 });
        },
        { attempts: 3, baseDelayMs: 1, what: 'test' },
      ),
      /busy/,
    );
    assert.equal(calls, 3);
    assert.ok(Date.now() - started >= 100, 'two waits of 50 ms');
  });
});

describe('one retry policy for the clients', () => {
  let busy: Awaited<ReturnType<typeof serve>>;
  let work: string;
  before(async () => {
    work = await tempDir('ms-net-');
    let mr = 0;
    busy = await serve((req, res) => {
      req.resume();
      if (req.url?.startsWith('/api/')) {
        mr++;
        if (mr <= 2) res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' }).end('{"message":"slow down"}');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"1","name":"m"}');
        return;
      }
      // An S3 endpoint that is always overloaded, asking to come back at once.
      res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>busy</Message></Error>');
    });
  });
  after(async () => {
    await busy.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('an S3 request failing for good costs the policy attempts, not attempts x attempts', async () => {
    const client = createS3Client({ bucket: 'b', key: 'k', region: 'us-east-1', endpoint: busy.url, accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-example-key' }, 1);
    try {
      await assert.rejects(client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })));
      assert.equal(busy.seen.filter((s) => s.method === 'HEAD').length, 5);
      await assert.rejects(
        downloadObject({ client, bucket: 'b', key: 'k', size: 10, file: path.join(work, 'k'), requests: new Limiter(1), tuning: { partSize: 1024, threshold: 1024 }, log: memoryLogger().log }),
        (err: Error) => err instanceof ModelSyncError && err.kind === 'transient',
      );
      assert.equal(busy.seen.filter((s) => s.method === 'GET' && !s.url.startsWith('/api/')).length, 5);
    } finally {
      client.destroy();
    }
  });

  it('the Model Registry client retries a 429 after its Retry-After', async () => {
    const client = new ModelRegistryClient({ baseUrl: `${busy.url}/api/model_registry/v1alpha3`, verifyTls: true }, { baseDelayMs: 10_000 });
    try {
      const started = Date.now();
      assert.equal((await client.getRegisteredModel('1'))?.name, 'm');
      assert.ok(Date.now() - started < 5000, 'Retry-After: 0 replaced the 10 s backoff');
      assert.equal(busy.seen.filter((s) => s.url.startsWith('/api/')).length, 3);
    } finally {
      client.close();
    }
  });
});
