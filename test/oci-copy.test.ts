// copy() through layout targets: the faults that used to end with another error kind on the layout
// path than on the registry path (a missing manifest or blob, a digest mismatch, a bad concurrency).
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout } from '../src/oci/layout.js';
import { pullToLayout, pushLayout } from '../src/oci/transfer.js';
import type { ImageIndex, ImageManifest } from '../src/oci/types.js';
import { runCli, tempDir } from '../dev/cli.js';
import { memoryLogger, tarball, writeImage, writeRandomImage } from './support/oci-images.js';

type Kinded = Error & { kind?: string };

describe('copy between image layouts: one error kind per fault', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ms-oci-copy-');
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A two-platform image in its own layout, and the digests of its first manifest and layer. */
  async function image(name: string) {
    const layout = new OciLayout(path.join(work, name));
    const root = await writeRandomImage(layout, 2, 2000);
    const first = (await layout.readJsonBlob<ImageIndex>(root.digest)).manifests[0]!;
    const layer = (await layout.readJsonBlob<ImageManifest>(first.digest)).layers[0]!;
    return { layout, root, manifest: first, layer };
  }
  const pull = (dir: string, into: string) => pullToLayout({ reference: `oci:${dir}`, layout: new OciLayout(path.join(work, into)), tlsVerify: true, log: memoryLogger().log });

  for (const [what, pick, was] of [
    ['manifest', (i: Awaited<ReturnType<typeof image>>) => i.manifest, 'a precondition'],
    ['blob', (i: Awaited<ReturnType<typeof image>>) => i.layer, 'an internal ENOENT'],
  ] as const) {
    it(`a ${what} missing from the source layout is notFound (as a registry 404), not ${was}`, async () => {
      const img = await image(`no-${what}`);
      const { digest } = pick(img);
      await rm(img.layout.blobPath(digest));
      await assert.rejects(pull(img.layout.dir, `no-${what}-dst`), (err: Kinded) => {
        assert.equal(err.kind, 'notFound');
        assert.match(err.message, new RegExp(`lacks ${what} ${digest}`));
        return true;
      });
    });
  }

  it('a layer whose bytes do not match its digest is integrity', async () => {
    const { layout, layer } = await image('bad-layer');
    await writeFile(layout.blobPath(layer.digest), Buffer.alloc(layer.size));
    await assert.rejects(pull(layout.dir, 'bad-layer-dst'), (err: Kinded) => err.kind === 'integrity');
  });

  it('push to a layout counts blobs as push to a registry does, tags the root, and refuses concurrency 0 as config', async () => {
    const { layout, root } = await image('push-src');
    const reference = `oci:${path.join(work, 'push-dst')}:v1`;
    const first = memoryLogger();
    const r1 = await pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 2, log: first.log });
    assert.deepEqual([r1.uri, r1.digest, r1.blobsUploaded, r1.blobsSkipped], [reference, root.digest, 4, 0], '2 layers + 2 configs, manifests apart');
    assert.equal((await new OciLayout(path.join(work, 'push-dst')).resolveTag('v1'))?.digest, root.digest);
    const second = memoryLogger();
    await pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 2, log: second.log });
    assert.ok(second.lines.some((l) => /uploaded 0 blobs, skipped 4 already present/.test(l.msg)), JSON.stringify(second.lines.map((l) => l.msg)));
    await assert.rejects(pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 0, log: memoryLogger().log }), (err: Kinded) => err.kind === 'config');
  });

  it('fetch from a layout that lacks a layer exits 5 (notFound), as from a registry', async () => {
    const layout = new OciLayout(path.join(work, 'fetch-src'));
    const root = await writeImage(layout, { layers: [{ data: tarball([{ name: 'models/a.txt', data: 'a\n' }]) }] });
    const layer = (await layout.readJsonBlob<ImageManifest>(root.digest)).layers[0]!;
    await rm(layout.blobPath(layer.digest));
    const r = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', `oci:${layout.dir}:latest`, '--storage-path', path.join(work, 'fetch-ws')]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.termination, new RegExp(`lacks blob ${layer.digest}`));
  });
});
