// The OCI client under injected faults, through test/support/fault-proxy.ts in front of a real
// docker-registry: a connection cut in every chunk of a chunked push (the first included), blob
// downloads reset every time (transient, exit 10), and a manifest over the client's size limit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { EXIT } from '../src/errors.js';
import { OciLayout } from '../src/oci/layout.js';
import { pullToLayout, pushLayout } from '../src/oci/transfer.js';
import type { Descriptor, ImageManifest } from '../src/oci/types.js';
import { runCli, tempDir } from '../dev/cli.js';
import { memoryLogger, tarball, writeImage } from './support/oci-images.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const run = promisify(execFile);
const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';
const quick = { attempts: 4, baseDelayMs: 10 };

describe('OCI client under injected faults (docker-registry behind the fault proxy)', { skip }, () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let proxyHost: string;
  let work: string;
  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    proxy = await startFaultProxy(registry.url);
    proxyHost = new URL(proxy.url).host;
    work = await tempDir('ms-oci-faults-');
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  // One layer of 1 000 003 bytes in chunks of 250 000: five PATCH requests, the last one short.
  const CHUNK = 250_000;
  const CHUNKS = 5;
  let layout: OciLayout;
  let root: Descriptor;
  let layer: Buffer;

  it('pushes through a connection cut in chunk k, for every k from the first to the last; the pushed image is intact', async () => {
    layout = new OciLayout(path.join(work, 'chunked'));
    layer = randomBytes(1_000_003);
    root = await writeImage(layout, { layers: [{ data: layer }] });
    // Chunk k is cut before any byte reaches the registry, or after 100 000 bytes; the first chunk
    // also after a single byte. An empty session and a 1-byte one both answer `Range: 0-0`.
    const cases = [...Array.from({ length: CHUNKS }, (_, i) => [{ chunk: i + 1, after: 0 }, { chunk: i + 1, after: 100_000 }]).flat(), { chunk: 1, after: 1 }];
    for (const { chunk, after: afterBytes } of cases) {
      const repo = `faults/chunk-${chunk}-${afterBytes}`;
      proxy.requests.length = 0;
      proxy.rules.push({ method: 'PATCH', skip: chunk - 1, resetRequestAfterBytes: afterBytes });
      const result = await pushLayout({ layout, root, reference: `${proxyHost}/${repo}:v1`, tlsVerify: true, concurrency: 1, log: memoryLogger().log, chunkThreshold: 100_000, chunkSize: CHUNK, retry: quick }).catch(
        (err: Error) => assert.fail(`fault in chunk ${chunk} after ${afterBytes} bytes: ${err.message}`),
      );
      assert.equal(result.digest, root.digest);
      const cut = proxy.requests.filter((r) => r.fault?.resetRequestAfterBytes !== undefined);
      assert.equal(cut.length, 1, `chunk ${chunk} was cut once`);
      assert.equal(cut[0]!.headers['content-range'], `${(chunk - 1) * CHUNK}-${Math.min(chunk * CHUNK, layer.length) - 1}`);
      // From the outside: skopeo copies the image (verifying every digest) and the layer holds our bytes.
      const out = path.join(work, `copied-${chunk}-${afterBytes}`);
      await run('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${registry.host}/${repo}:v1`, `oci:${out}:v1`]);
      const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
      const manifest = JSON.parse(await readFile(path.join(out, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as ImageManifest;
      const copied = await readFile(path.join(out, 'blobs/sha256', manifest.layers[0]!.digest.slice(7)));
      assert.ok(copied.equals(layer), `the layer pushed with a fault in chunk ${chunk} is intact`);
    }
  });

  it('starts a blob over in a new session when the Range after a chunk disagrees with what was sent', async () => {
    proxy.requests.length = 0;
    // The second chunk's answer claims the registry holds one byte more than it was sent.
    proxy.rules.push({ method: 'PATCH', skip: 1, setResponseHeaders: { range: `0-${2 * CHUNK}` } });
    const result = await pushLayout({ layout, root, reference: `${proxyHost}/faults/range:v1`, tlsVerify: true, concurrency: 1, log: memoryLogger().log, chunkThreshold: 100_000, chunkSize: CHUNK, retry: quick });
    assert.equal(result.digest, root.digest);
    const sessions = proxy.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/blobs/uploads/'));
    assert.equal(sessions.length, 3, 'config, then the layer twice');
    assert.equal(proxy.requests.filter((r) => r.method === 'PATCH').length, 2 + CHUNKS);
  });

  describe('pulls whose blob downloads are reset every time', () => {
    let reference: string;
    before(async () => {
      const src = new OciLayout(path.join(work, 'reset-src'));
      const data = randomBytes(50_000);
      const image = await writeImage(src, { layers: [{ data: tarball([{ name: 'models/model.bin', data }]), annotations: { 'org.opencontainers.image.title': 'model.bin' } }] });
      await pushLayout({ layout: src, root: image, reference: `${registry.host}/faults/reset:v1`, tlsVerify: true, concurrency: 1, log: memoryLogger().log });
      reference = `${proxyHost}/faults/reset:v1`;
    });
    const resetEveryBlob = () => proxy.rules.push({ method: 'GET', path: /\/blobs\/sha256:/, resetAfterBytes: 100, times: Infinity });
    const clearRules = () => (proxy.rules.length = 0);

    it('ends a pull as transient, naming the registry and the blob, in one line', async () => {
      resetEveryBlob();
      try {
        await assert.rejects(pullToLayout({ reference, layout: new OciLayout(path.join(work, 'reset-pull')), tlsVerify: true, log: memoryLogger().log, retry: quick }), (err: Error & { kind?: string }) => {
          assert.equal(err.kind, 'transient', err.message);
          assert.match(err.message, new RegExp(`^cannot pull ${reference}: the download of blob sha256:[0-9a-f]{64} from registry ${proxyHost} broke off \\(ECONNRESET`));
          assert.ok(!err.message.includes('\n'));
          return true;
        });
      } finally {
        clearRules();
      }
    });

    it('ends `fetch --source-type oci` with exit 10', async () => {
      resetEveryBlob();
      try {
        const r = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', reference, '--storage-path', path.join(work, 'reset-fetch'), '--retry-attempts', '2']);
        assert.equal(r.code, EXIT.transient, r.stderr);
        assert.match(r.termination, /the download of blob sha256:[0-9a-f]{64} from registry .* broke off/);
      } finally {
        clearRules();
      }
    });
  });

  describe('a manifest over the client limit (8 MiB)', () => {
    const huge = 'x'.repeat(9 * 1024 * 1024);
    const limitMessage = /registry 127\.0\.0\.1:\d+ sent manifest v1 of (9437184|more than 8388608) bytes, over the limit of 8388608 bytes \(8 MiB\) that this client reads; refusing it$/;

    for (const declared of [true, false]) {
      it(`is refused (unsafe) with the limit and the size, ${declared ? 'declared in Content-Length' : 'sent without a length'}`, async () => {
        proxy.rules.push({ method: 'GET', path: '/v2/faults/huge/manifests/v1', status: 200, body: huge, ...(declared ? { setResponseHeaders: { 'content-length': String(huge.length) } } : {}) });
        try {
          await assert.rejects(pullToLayout({ reference: `${proxyHost}/faults/huge:v1`, layout: new OciLayout(path.join(work, 'huge')), tlsVerify: true, log: memoryLogger().log, retry: quick }), (err: Error & { kind?: string }) => {
            assert.equal(err.kind, 'unsafe', err.message);
            assert.match(err.message, limitMessage);
            assert.ok(err.message.includes(declared ? 'of 9437184 bytes' : 'of more than 8388608 bytes'), err.message);
            return true;
          });
        } finally {
          proxy.rules.length = 0;
        }
      });
    }
  });
});
