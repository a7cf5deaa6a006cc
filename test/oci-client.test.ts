// The OCI client and push/pull against a real docker-registry (plain http, no auth).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RegistryClient } from '../src/oci/registry-client.js';
import { OciLayout, sha256Digest } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { parseImageReference } from '../src/oci/reference.js';
import { pullToLayout, pushLayout } from '../src/oci/transfer.js';
import type { ImageIndex } from '../src/oci/types.js';
import { tempDir } from '../dev/cli.js';
import { memoryLogger, writeImage, writeRandomImage } from './support/oci-images.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const run = promisify(execFile);
const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';

describe('OCI client against docker-registry (plain)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    work = await tempDir('ms-oci-client-');
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const client = (repo: string, push = true) => new RegistryClient(parseImageReference(`${registry.host}/${repo}:t`), { tlsVerify: true, log: memoryLogger().log, push });

  it('uploads a blob monolithically, HEADs it, reads it back verified', async () => {
    const c = client('client/mono');
    try {
      const data = randomBytes(100_000);
      const digest = sha256Digest(data);
      assert.equal(await c.headBlob('client/mono', digest), undefined);
      await c.uploadBlob('client/mono', digest, data.length, () => createReadStreamOf(data));
      assert.equal(await c.headBlob('client/mono', digest), data.length);
      assert.deepEqual(await c.getBlobBytes('client/mono', digest), data);
    } finally {
      c.close();
    }
  });

  it('uploads in PATCH chunks with contiguous Content-Range offsets following each Location; the registry stores the exact bytes', async () => {
    const proxy = await startFaultProxy(registry.url);
    const c = new RegistryClient(parseImageReference(`${new URL(proxy.url).host}/client/chunked:t`), { tlsVerify: true, log: memoryLogger().log, push: true });
    try {
      const data = randomBytes(1_000_003); // not a multiple of the chunk size
      const digest = sha256Digest(data);
      const file = path.join(work, 'chunked.bin');
      await writeFile(file, data);
      await c.uploadBlob('client/chunked', digest, data.length, (start, end) => createReadStream(file, start === undefined ? {} : { start, end }), {
        chunkThreshold: 100_000,
        chunkSize: 300_000,
      });
      const patches = proxy.requests.filter((r) => r.method === 'PATCH');
      assert.deepEqual(
        patches.map((p) => p.headers['content-range']),
        ['0-299999', '300000-599999', '600000-899999', '900000-1000002'],
      );
      assert.deepEqual(patches.map((p) => p.requestBytes), [300_000, 300_000, 300_000, 100_003]);
      // each PATCH went to the Location the previous answer named (distribution changes _state each time)
      const urls = patches.map((p) => p.url);
      assert.equal(new Set(urls).size, urls.length);
      const put = proxy.requests.find((r) => r.method === 'PUT');
      assert.ok(put && put.url.includes(`digest=${encodeURIComponent(digest)}`) && put.url.includes('_state='), `PUT keeps the Location query: ${put?.url}`);
      // The registry's own copy of the blob holds exactly our bytes.
      const hex = digest.slice(7);
      const stored = await readFile(path.join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data'));
      assert.equal(createHash('sha256').update(stored).digest('hex'), hex);
      assert.ok(stored.equals(data));
    } finally {
      c.close();
      await proxy.stop();
    }
  });

  it('recovers from a connection cut in the middle of a chunk and still stores the exact bytes', async () => {
    const proxy = await startFaultProxy(registry.url);
    proxy.rules.push({ method: 'PATCH', skip: 1, resetRequestAfterBytes: 100_000 }); // the second chunk
    const c = new RegistryClient(parseImageReference(`${new URL(proxy.url).host}/client/cut:t`), { tlsVerify: true, log: memoryLogger().log, push: true, retry: { attempts: 4, baseDelayMs: 10 } });
    try {
      const data = randomBytes(900_000);
      const digest = sha256Digest(data);
      const file = path.join(work, 'cut.bin');
      await writeFile(file, data);
      let net = 0;
      await c.uploadBlob('client/cut', digest, data.length, (start, end) => createReadStream(file, start === undefined ? {} : { start, end }), {
        chunkThreshold: 100_000,
        chunkSize: 300_000,
        onBytes: (n) => (net += n),
      });
      assert.equal(net, data.length, 'progress counts each byte once after rollbacks');
      assert.equal(proxy.requests.filter((r) => r.method === 'PATCH' && r.status === 0).length, 1, 'one chunk was cut');
      assert.ok(proxy.requests.some((r) => r.method === 'GET' && r.url.includes('/blobs/uploads/')), 'asked the registry for the upload state');
      assert.deepEqual(await c.getBlobBytes('client/cut', digest), data);
    } finally {
      c.close();
      await proxy.stop();
    }
  });

  it('mounts a blob from another repository (201) and reports false when the source lacks it (202)', async () => {
    const c = client('client/mount-dst');
    try {
      const data = randomBytes(5000);
      const digest = sha256Digest(data);
      await c.uploadBlob('client/mount-src', digest, data.length, () => createReadStreamOf(data));
      assert.equal(await c.headBlob('client/mount-dst', digest), undefined);
      assert.equal(await c.mountBlob('client/mount-dst', digest, 'client/mount-src'), true);
      assert.equal(await c.headBlob('client/mount-dst', digest), data.length);
      const absent = sha256Digest(randomBytes(10));
      assert.equal(await c.mountBlob('client/mount-dst', absent, 'client/mount-src'), false);
    } finally {
      c.close();
    }
  });

  it('PUTs manifests by tag and by digest and verifies Docker-Content-Digest', async () => {
    const layout = new OciLayout(path.join(work, 'manifest-layout'));
    const root = await writeImage(layout, { layers: [{ data: Buffer.from('layer') }] });
    const c = client('client/manifest');
    try {
      const manifest = await layout.readJsonBlob<{ config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> }>(root.digest);
      for (const b of [manifest.config, ...manifest.layers]) {
        await c.uploadBlob('client/manifest', b.digest, b.size, () => layout.readBlobStream(b.digest));
      }
      const bytes = await layout.readBlob(root.digest);
      assert.equal(await c.putManifest('client/manifest', root.digest, bytes, MT.ociManifest), root.digest);
      assert.equal(await c.putManifest('client/manifest', 'v1', bytes, MT.ociManifest), root.digest);
      const got = await c.getManifest('client/manifest', 'v1');
      assert.equal(got.digest, root.digest);
      assert.equal(got.mediaType, MT.ociManifest);
      const head = await c.headManifest('client/manifest', 'v1');
      assert.equal(head?.digest, root.digest);
      assert.equal(await c.headManifest('client/manifest', 'nope'), undefined);
    } finally {
      c.close();
    }
  });

  it('refuses a manifest whose registry digest differs from its bytes (proxy rewriting Docker-Content-Digest)', async () => {
    // A proxy that lies about the digest stands in for a registry that re-serialised the manifest.
    const proxy = await startFaultProxy(registry.url);
    proxy.rules.push({ method: 'PUT', path: /\/manifests\//, setResponseHeaders: { 'docker-content-digest': 'sha256:' + '0'.repeat(64) } });
    const layout = new OciLayout(path.join(work, 'liar-layout'));
    const root = await writeImage(layout, { layers: [{ data: Buffer.from('x') }] });
    const c = new RegistryClient(parseImageReference(`${new URL(proxy.url).host}/client/liar:t`), { tlsVerify: true, log: memoryLogger().log, push: true });
    try {
      const manifest = await layout.readJsonBlob<{ config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> }>(root.digest);
      for (const b of [manifest.config, ...manifest.layers]) await c.uploadBlob('client/liar', b.digest, b.size, () => layout.readBlobStream(b.digest));
      await assert.rejects(c.putManifest('client/liar', 'v1', await layout.readBlob(root.digest), MT.ociManifest), (err: Error & { kind?: string }) => {
        assert.equal(err.kind, 'integrity');
        assert.match(err.message, /stored manifest v1 as sha256:0{64}/);
        return true;
      });
    } finally {
      c.close();
      await proxy.stop();
    }
  });

  it('pushes a two-platform layout; a second push uploads no blob and logs how many it skipped', async () => {
    const layout = new OciLayout(path.join(work, 'twice'));
    const root = await writeRandomImage(layout, 3, 20_000);
    const reference = `${registry.host}/client/twice:v1`;
    const first = memoryLogger();
    const r1 = await pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 3, log: first.log });
    // 3 layers + 2 configs (one per platform)
    assert.deepEqual([r1.blobsUploaded, r1.blobsSkipped], [5, 0]);
    assert.equal(r1.uri, `oci://${reference}`);
    assert.equal(r1.digest, root.digest);
    const second = memoryLogger();
    const r2 = await pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 3, log: second.log });
    assert.deepEqual([r2.blobsUploaded, r2.blobsSkipped, r2.bytesUploaded], [0, 5, 0]);
    assert.ok(second.lines.some((l) => /uploaded 0 blobs, skipped 5 already present/.test(l.msg)), JSON.stringify(second.lines));
    // From the outside: skopeo sees the index with both platforms.
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reference}`]);
    const index = JSON.parse(stdout) as ImageIndex;
    assert.deepEqual(index.manifests.map((m) => m.platform?.architecture), ['amd64', 'arm64']);
    assert.equal(sha256Digest(Buffer.from(stdout)), root.digest);
  });

  it('resumes after a crash: only the blobs missing from the registry are uploaded', async () => {
    const layout = new OciLayout(path.join(work, 'resume'));
    const root = await writeRandomImage(layout, 4, 10_000);
    const repo = 'client/resume';
    // "Crash": an earlier run got two layers up and nothing else.
    const manifest = await layout.readJsonBlob<{ layers: Array<{ digest: string; size: number }> }>((await layout.readJsonBlob<ImageIndex>(root.digest)).manifests[0]!.digest);
    const c = client(repo);
    for (const l of manifest.layers.slice(0, 2)) await c.uploadBlob(repo, l.digest, l.size, () => layout.readBlobStream(l.digest));
    c.close();
    const proxy = await startFaultProxy(registry.url);
    try {
      const result = await pushLayout({ layout, root, reference: `${new URL(proxy.url).host}/${repo}:v1`, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
      assert.deepEqual([result.blobsUploaded, result.blobsSkipped], [4, 2]); // 2 layers + 2 configs
      const uploadedDigests = proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/')).map((r) => decodeURIComponent(/digest=([^&]+)/.exec(r.url)![1]!));
      assert.equal(uploadedDigests.length, 4);
      for (const l of manifest.layers.slice(0, 2)) assert.ok(!uploadedDigests.includes(l.digest));
    } finally {
      await proxy.stop();
    }
  });

  it('pulls an image into a layout (all platforms), then a re-pull downloads nothing', async () => {
    const src = new OciLayout(path.join(work, 'pull-src'));
    const root = await writeRandomImage(src, 2, 30_000);
    const reference = `${registry.host}/client/pull:v1`;
    await pushLayout({ layout: src, root, reference, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
    const dst = new OciLayout(path.join(work, 'pull-dst'));
    const pulled = await pullToLayout({ reference, layout: dst, tlsVerify: true, log: memoryLogger().log });
    assert.equal(pulled.digest, root.digest);
    assert.equal(pulled.mediaType, MT.ociIndex);
    const index = await dst.readJsonBlob<ImageIndex>(root.digest);
    for (const m of index.manifests) assert.ok(await dst.hasBlob(m.digest, m.size));
    const again = memoryLogger();
    await pullToLayout({ reference, layout: dst, tlsVerify: true, log: again.log });
    assert.ok(again.lines.some((l) => /0 blobs downloaded, 4 already present/.test(l.msg)), JSON.stringify(again.lines.map((l) => l.msg)));
    // by digest too
    const byDigest = await pullToLayout({ reference: `${registry.host}/client/pull@${root.digest}`, layout: dst, tlsVerify: true, log: memoryLogger().log });
    assert.equal(byDigest.digest, root.digest);
  });

  it('copies between local image layouts (oci:<dir>[:tag]) as pull source and push destination', async () => {
    const src = new OciLayout(path.join(work, 'local-src'));
    const root = await writeRandomImage(src, 2, 1000, 'v2');
    const mid = new OciLayout(path.join(work, 'local-mid'));
    const pulled = await pullToLayout({ reference: `oci:${src.dir}:v2`, layout: mid, tlsVerify: true, log: memoryLogger().log });
    assert.equal(pulled.digest, root.digest);
    const result = await pushLayout({ layout: mid, root: pulled, reference: `oci:${path.join(work, 'local-dst')}:v3`, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
    assert.equal(result.uri, `oci:${path.join(work, 'local-dst')}:v3`);
    const dst = new OciLayout(path.join(work, 'local-dst'));
    assert.equal((await dst.resolveTag('v3'))?.digest, root.digest);
    // skopeo reads what we wrote
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${dst.dir}:v3`]);
    assert.equal(sha256Digest(Buffer.from(stdout)), root.digest);
  });

  it('names registry and reference for an unknown repository or tag (notFound)', async () => {
    await assert.rejects(pullToLayout({ reference: `${registry.host}/client/none:v9`, layout: new OciLayout(path.join(work, 'nf')), tlsVerify: true, log: memoryLogger().log }), (err: Error & { kind?: string }) => {
      assert.equal(err.kind, 'notFound');
      assert.ok(err.message.includes(`${registry.host}/client/none:v9`) && err.message.includes(`registry ${registry.host}`), err.message);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  it('names the registry when it is down (transient, after retries)', async () => {
    const { freePort } = await import('../dev/registry.js');
    const port = await freePort();
    await assert.rejects(
      pullToLayout({ reference: `127.0.0.1:${port}/x/y:v1`, layout: new OciLayout(path.join(work, 'down')), tlsVerify: true, log: memoryLogger().log, retry: { attempts: 2, baseDelayMs: 10 } }),
      (err: Error & { kind?: string }) => {
        assert.equal(err.kind, 'transient');
        assert.match(err.message, new RegExp(`cannot pull 127\\.0\\.0\\.1:${port}/x/y:v1: registry 127\\.0\\.0\\.1:${port} is unreachable \\(ECONNREFUSED`));
        return true;
      },
    );
  });
});

function createReadStreamOf(data: Buffer): Readable {
  return Readable.from([data]);
}
