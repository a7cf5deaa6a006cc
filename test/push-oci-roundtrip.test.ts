// Round trip through the CLI against a real docker-registry: fetch (file://) -> package (on a
// busybox base built from Debian's busybox-static and pushed as a two-platform index) -> push ->
// checked from outside (skopeo copy + umoci unpack per platform) -> fetch --source-type oci.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OciLayout } from '../src/oci/layout.js';
import { pushLayout } from '../src/oci/transfer.js';
import type { ImageIndex, ImageManifest } from '../src/oci/types.js';
import { runCli, tempDir } from '../dev/cli.js';
import { existsSync } from 'node:fs';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { memoryLogger } from './support/oci-images.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const run = promisify(execFile);
const skip = !registryAvailable() ? 'docker-registry is not installed' : !existsSync('/bin/busybox') ? 'busybox-static is not installed' : false;

describe('fetch -> package -> push -> fetch --source-type oci', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let base: string;
  const files: Record<string, Buffer> = {
    'config.json': Buffer.from('{"model_type":"test"}\n'),
    'onnx/model.onnx': randomBytes(400_000),
    'tokenizer/vocab.txt': Buffer.from('a\nb\nc\n'),
  };

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    work = await tempDir('ms-roundtrip-');
    const baseLayout = new OciLayout(path.join(work, 'base'));
    const root = (await buildBusyboxBase(baseLayout.dir)).index;
    base = `${registry.host}/base/busybox:latest`;
    await pushLayout({ layout: baseLayout, root, reference: base, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(work, 'src', rel)), { recursive: true });
      await writeFile(path.join(work, 'src', rel), data);
    }
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('gives a modelcar that skopeo and umoci read, on every platform, and fetch returns identical files', async (t) => {
    const storage = path.join(work, 'ws');
    const env = { MODEL_SYNC_STORAGE_PATH: storage };
    const fetched = await runCli(['fetch', '--source-type', 'uri', '--source-uri', pathToFileURL(path.join(work, 'src')).href], env);
    assert.equal(fetched.code, 0, fetched.stderr);
    const packaged = await runCli(['package', '--destination-oci-base-image', base], env);
    if (packaged.code !== 0 && /not implemented/.test(packaged.termination + packaged.stderr)) {
      t.skip('package is not implemented yet');
      return;
    }
    assert.equal(packaged.code, 0, packaged.stderr);

    const uri = `${registry.host}/roundtrip/model:v1`;
    const pushed = await runCli(['push', '--destination-oci-uri', uri], env);
    assert.equal(pushed.code, 0, pushed.stderr);
    const { 'image-digest': digest } = JSON.parse(pushed.stdout) as Record<string, string>;

    // From the outside: the index has both platforms, each carrying the model layers.
    const index = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${uri}`])).stdout) as ImageIndex;
    assert.deepEqual(index.manifests.map((m) => m.platform?.architecture).sort(), ['amd64', 'arm64']);
    const layerSets: string[][] = [];
    for (const m of index.manifests) {
      const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/roundtrip/model@${m.digest}`])).stdout) as ImageManifest;
      layerSets.push(manifest.layers.slice(1).map((l) => l.digest));
      // busybox + one shared layer: the three files are below --modelcar-own-layer-bytes (docs/modelcar.md, layer budget)
      assert.equal(manifest.layers.length, 2);
      assert.equal(manifest.layers[1]!.annotations?.['io.model-sync.layer.files'], JSON.stringify(Object.keys(files)));
    }
    assert.deepEqual(layerSets[0], layerSets[1], 'every platform carries the same model layers');

    for (const arch of ['amd64', 'arm64']) {
      const dir = path.join(work, `copy-${arch}`);
      await run('skopeo', ['copy', '--override-arch', arch, '--override-os', 'linux', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', `docker://${uri}`, `oci:${dir}:v1`]);
      const bundle = path.join(work, `bundle-${arch}`);
      await run('umoci', ['unpack', '--rootless', '--image', `${dir}:v1`, bundle]);
      for (const [rel, data] of Object.entries(files)) {
        assert.ok((await readFile(path.join(bundle, 'rootfs/models', rel))).equals(data), `${arch}: /models/${rel}`);
      }
      assert.ok((await lstat(path.join(bundle, 'rootfs/bin/sh'))).isSymbolicLink(), `${arch}: /bin/sh`);
    }

    // Back again: fetch the pushed modelcar into a fresh workspace.
    const back = path.join(work, 'ws-back');
    const r = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', `${registry.host}/roundtrip/model@${digest}`, '--storage-path', back]);
    assert.equal(r.code, 0, r.stderr);
    for (const [rel, data] of Object.entries(files)) assert.ok((await readFile(path.join(back, 'model', rel))).equals(data), rel);

    // Pushing the same model again uploads no blob.
    const again = await runCli(['push', '--destination-oci-uri', uri], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /uploaded 0 blobs, skipped \d+ already present/);
  });
});
