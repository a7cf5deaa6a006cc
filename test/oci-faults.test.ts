// The OCI client under injected faults, through test/support/fault-proxy.ts in front of a real
// docker-registry: a connection cut in every chunk of a chunked push (the first included), and a
// registry Range that disagrees with what was sent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OciLayout } from '../src/oci/layout.js';
import { pushLayout } from '../src/oci/transfer.js';
import type { Descriptor, ImageManifest } from '../src/oci/types.js';
import { tempDir } from '../dev/cli.js';
import { memoryLogger, writeImage } from './support/oci-images.js';
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
});
