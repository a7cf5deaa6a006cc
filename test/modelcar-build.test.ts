// buildModelcar on the busybox dev base (OCI and Docker media types): every platform gets the model
// layers, configs keep the base's fields, digests are reproducible, and the result is read from
// the outside by skopeo and umoci (per platform), down to running KServe's check in the rootfs.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildBusyboxBase, type BusyboxBase } from '../dev/busybox-base.js';
import { OciLayout } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { baseLayerCount, buildModelcar, MODEL_LAYER_CREATED } from '../src/oci/modelcar.js';
import { planModelLayers } from '../src/oci/layer-plan.js';
import { ModelcarLayout } from '../src/oci/modelcar-layout.js';
import type { ModelLayerRecord } from '../src/workspace/records.js';
import { hashTarLayer, hashTarLayerGroup } from '../src/oci/layer-hasher.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from '../src/oci/types.js';
import { comparePaths } from '../src/oci/layer-plan.js';
import { tempDir } from '../dev/cli.js';
import { writeImage } from './support/oci-images.js';

const run = promisify(execFile);
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
const busyboxSkip = has('/bin/busybox', '--help') ? false : 'busybox-static is not installed (/bin/busybox)';
const toolsSkip = busyboxSkip || (has('skopeo') && has('umoci') ? false : 'skopeo and umoci are needed (apt-get install skopeo umoci)');
const isRoot = process.getuid?.() === 0;

const MODEL: Record<string, Buffer> = {
  'config.json': Buffer.from('{"model_type":"demo"}\n'),
  'weights/model.safetensors': Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256)),
  'README.md': Buffer.from('# demo\n'),
  'tokenizer/tokenizer.json': Buffer.from('{"vocab":{}}\n'),
};
const SORTED = Object.keys(MODEL).sort(comparePaths);

async function writeModel(dir: string, mtime?: Date): Promise<void> {
  for (const [rel, data] of Object.entries(MODEL)) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    if (mtime) await utimes(file, mtime, mtime);
  }
}

/** One layer per file (as with a budget that allows it and every file large). */
async function hashModel(modelDir: string): Promise<ModelLayerRecord[]> {
  const out: ModelLayerRecord[] = [];
  for (const rel of SORTED) {
    const { digest, size, ...file } = await hashTarLayer(path.join(modelDir, rel), rel);
    out.push({ digest, size, files: [{ ...file, fileMtimeMs: 0 }] });
  }
  return out;
}

/** The layers as package plans them: weights (70 kB, at least `ownLayerBytes`) alone, the rest shared. */
async function hashPlanned(modelDir: string, ownLayerBytes: number): Promise<ModelLayerRecord[]> {
  const files = SORTED.map((rel) => ({ path: rel, size: MODEL[rel]!.length, file: path.join(modelDir, rel) }));
  const plan = planModelLayers(files, 1, { maxLayers: 100, ownLayerBytes, maxLayersSetting: '--modelcar-max-layers' });
  const out: ModelLayerRecord[] = [];
  for (const l of plan.layers) {
    const info = await hashTarLayerGroup(l.files);
    out.push({ digest: info.digest, size: info.size, files: info.files });
  }
  return out;
}

interface Built {
  imageDir: string;
  modelDir: string;
  base: BusyboxBase;
  root: Descriptor;
  layers: ModelLayerRecord[];
  layout: ModelcarLayout;
}

/** The busybox base written into image/, then the model layers added to it. */
async function buildOn(dir: string, mediaTypes: 'oci' | 'docker', mtime?: Date, ownLayerBytes?: number): Promise<Built> {
  const imageDir = path.join(dir, 'image');
  const modelDir = path.join(dir, 'model');
  await writeModel(modelDir, mtime);
  const base = await buildBusyboxBase(imageDir, { mediaTypes });
  const layers = ownLayerBytes === undefined ? await hashModel(modelDir) : await hashPlanned(modelDir, ownLayerBytes);
  const layout = new ModelcarLayout(imageDir, modelDir, layers);
  const { root } = await buildModelcar({ layout, base: base.index, layers });
  return { imageDir, modelDir, base, root, layers, layout };
}

describe('modelcar on the busybox base', { skip: busyboxSkip }, () => {
  let work: string;
  const built: Partial<Record<'oci' | 'docker' | 'grouped', Built>> = {};
  before(async () => {
    work = await tempDir('ms-modelcar-');
    built.oci = await buildOn(path.join(work, 'oci'), 'oci');
    built.docker = await buildOn(path.join(work, 'docker'), 'docker');
    built.grouped = await buildOn(path.join(work, 'grouped'), 'docker', undefined, 50_000);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const flavour of ['oci', 'docker'] as const) {
    it(`appends the same model layers to every platform of a ${flavour}-typed base, as OCI`, async () => {
      const b = built[flavour]!;
      const layout = new OciLayout(b.imageDir);
      const top = await layout.readIndex();
      assert.equal(top.manifests.length, 1, 'index.json holds only the modelcar');
      assert.deepEqual(top.manifests[0], { ...b.root, annotations: { 'org.opencontainers.image.ref.name': 'latest' } });
      assert.equal(b.root.mediaType, MT.ociIndex);
      const index = await layout.readJsonBlob<ImageIndex>(b.root.digest);
      assert.equal(index.mediaType, MT.ociIndex);
      assert.deepEqual(index.manifests.map((m) => m.platform), [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }]);
      for (const entry of index.manifests) {
        assert.equal(entry.mediaType, MT.ociManifest);
        const manifest = await layout.readJsonBlob<ImageManifest>(entry.digest);
        assert.equal(manifest.mediaType, MT.ociManifest);
        assert.equal(manifest.config.mediaType, MT.ociConfig);
        assert.equal(manifest.layers.length, 1 + SORTED.length);
        assert.deepEqual(manifest.layers[0], { ...b.base.layer, mediaType: MT.ociLayerTarGzip }, 'base layer kept, type converted');
        manifest.layers.slice(1).forEach((l, i) => {
          const rel = SORTED[i]!;
          const name = path.posix.basename(rel);
          assert.deepEqual(l, {
            mediaType: MT.ociLayerTar,
            digest: b.layers[i]!.digest,
            size: b.layers[i]!.size,
            annotations: {
              'org.opencontainers.image.title': name,
              'olot.layer.content.digest': b.layers[i]!.files[0]!.fileSha256,
              'olot.layer.content.type': 'file',
              'olot.layer.content.inlayerpath': `/models/${rel}`,
              'olot.layer.content.name': name,
            },
          });
        });
        const config = await layout.readJsonBlob<ImageConfig>(manifest.config.digest);
        assert.equal(config.architecture, entry.platform!.architecture);
        assert.equal(config.os, 'linux');
        assert.equal(config.created, '1970-01-01T00:00:00Z', 'base fields kept');
        assert.deepEqual(config.config, b.base.config, 'Env and Cmd kept');
        assert.deepEqual(config.rootfs.diff_ids, [b.base.diffId, ...b.layers.map((l) => l.digest)]);
        assert.deepEqual(config.history, [
          ...b.base.history,
          ...SORTED.map((rel) => ({ created: MODEL_LAYER_CREATED, created_by: `model-sync package /models/${rel}` })),
        ]);
      }
    });
  }

  it('is reproducible: same model on the same base gives the same digests, whatever the mtimes and media types', async () => {
    const again = await buildOn(path.join(work, 'again'), 'oci', new Date('2020-05-05T05:05:05Z'));
    assert.equal(again.root.digest, built.oci!.root.digest);
    assert.deepEqual(again.layers.map((l) => l.digest), built.oci!.layers.map((l) => l.digest));
    // Docker types converted to OCI give byte-identical documents.
    assert.equal(built.docker!.root.digest, built.oci!.root.digest);
    // Building again in place changes nothing.
    const { root } = await buildModelcar({ layout: built.oci!.layout, base: built.oci!.base.index, layers: built.oci!.layers });
    assert.equal(root.digest, built.oci!.root.digest);
  });

  it('writes no model layer blob: the layout holds the base and small documents only', async () => {
    const b = built.oci!;
    for (const l of b.layers) await assert.rejects(stat(b.layout.blobPath(l.digest)));
    assert.equal(await b.layout.hasBlob(b.layers[0]!.digest, b.layers[0]!.size), true, 'served from model/');
  });

  it('is read by skopeo inspect, and per platform by skopeo copy + umoci unpack: exact model bytes, /bin/sh, KServe check', { skip: toolsSkip }, async () => {
    const b = built.docker!;
    // skopeo and umoci read the directory themselves: give them real blob files.
    const dir = path.join(work, 'export');
    await run('cp', ['-a', b.imageDir, dir]);
    const exported = new ModelcarLayout(dir, b.modelDir, b.layers);
    assert.equal(await exported.materializeModelLayers(), SORTED.length);

    const { stdout } = await run('skopeo', ['inspect', `oci:${dir}:latest`]);
    const inspected = JSON.parse(stdout) as { Digest: string; Layers: string[]; Env: string[] };
    assert.equal(inspected.Digest, b.root.digest);
    assert.deepEqual(inspected.Layers, [b.base.layer.digest, ...b.layers.map((l) => l.digest)]);

    for (const arch of ['amd64', 'arm64']) {
      // umoci 0.4 cannot pick a platform from an index: skopeo copies one, keeping our digests.
      const single = path.join(work, `single-${arch}`);
      await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--override-arch', arch, '--override-os', 'linux', `oci:${dir}:latest`, `oci:${single}:latest`]);
      const bundle = path.join(work, `bundle-${arch}`);
      await run('umoci', ['unpack', '--image', `${single}:latest`, bundle]); // verifies every layer digest
      const rootfs = path.join(bundle, 'rootfs');
      for (const [rel, data] of Object.entries(MODEL)) {
        assert.deepEqual(await readFile(path.join(rootfs, 'models', rel)), data, `${arch}: /models/${rel}`);
        assert.equal((await stat(path.join(rootfs, 'models', rel))).mode & 0o777, 0o664);
      }
      assert.ok((await stat(path.join(rootfs, 'bin/sh'))).isFile(), `${arch}: /bin/sh`);
      if (isRoot) {
        // KServe's modelcar-init check, run inside the unpacked rootfs with its own busybox.
        const check = await run('chroot', [rootfs, '/bin/sh', '-c', '[ -d /models ] && [ "$(ls -A /models)" ] && echo OK || (echo NOK && exit 1)']);
        assert.equal(check.stdout, 'OK\n');
      }
    }
  });

  it('gives a single manifest for a single-manifest base, and keeps attestation manifests unchanged', async () => {
    const dir = path.join(work, 'shapes');
    const modelDir = built.oci!.modelDir;
    const layers = built.oci!.layers;

    const singleLayout = new OciLayout(path.join(dir, 'single'));
    const singleBase = await writeImage(singleLayout, { layers: [{ data: Buffer.from('base layer') }], config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:' + 'a'.repeat(64)] } } });
    const single = await buildModelcar({ layout: new ModelcarLayout(singleLayout.dir, modelDir, layers), base: singleBase, layers });
    assert.equal(single.root.mediaType, MT.ociManifest);
    const m = await singleLayout.readJsonBlob<ImageManifest>(single.root.digest);
    assert.equal(m.layers.length, 1 + layers.length);
    const cfg = await singleLayout.readJsonBlob<ImageConfig>(m.config.digest);
    assert.equal(cfg.history?.length, layers.length, 'a base without history gets entries for the model layers');

    // An index with one platform and a BuildKit attestation manifest for it.
    const attLayout = await new OciLayout(path.join(dir, 'att')).init();
    const platform = await writeImage(attLayout, { layers: [{ data: Buffer.from('base') }], platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const platformIndex = await attLayout.readJsonBlob<ImageIndex>(platform.digest);
    const statement = await attLayout.writeBlobBytes(Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}'), 'application/vnd.in-toto+json');
    const attConfig = await attLayout.writeJsonBlob({ architecture: 'unknown', os: 'unknown', rootfs: { type: 'layers', diff_ids: [statement.digest] } }, MT.ociConfig);
    const attManifest = await attLayout.writeJsonBlob({ schemaVersion: 2, mediaType: MT.ociManifest, config: attConfig, layers: [statement] }, MT.ociManifest, {
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': platformIndex.manifests[0]!.digest },
    });
    const withAtt = await attLayout.writeJsonBlob({ ...platformIndex, manifests: [...platformIndex.manifests, attManifest] }, MT.ociIndex);
    const result = await buildModelcar({ layout: new ModelcarLayout(attLayout.dir, modelDir, layers), base: withAtt, layers });
    assert.equal(result.platforms, 1);
    assert.equal(result.attestations, 1);
    const out = await attLayout.readJsonBlob<ImageIndex>(result.root.digest);
    assert.deepEqual(out.manifests[1], attManifest, 'attestation entry unchanged');
    assert.notEqual(out.manifests[0]!.digest, platformIndex.manifests[0]!.digest);
  });

  it('refuses an empty model', async () => {
    const b = built.oci!;
    await assert.rejects(buildModelcar({ layout: b.layout, base: b.base.index, layers: [] }), /at least one model file/);
  });
  it('a planned modelcar: a shared layer of 3 small files (title, file list, history) and the weights alone (olot annotations)', async () => {
    const b = built.grouped!;
    assert.deepEqual(b.layers.map((l) => l.files.map((f) => f.path)), [['README.md', 'config.json', 'tokenizer/tokenizer.json'], ['weights/model.safetensors']]);
    assert.equal(await baseLayerCount(b.layout, b.base.index), 1);
    const layout = new OciLayout(b.imageDir);
    const index = await layout.readJsonBlob<ImageIndex>(b.root.digest);
    for (const entry of index.manifests) {
      const manifest = await layout.readJsonBlob<ImageManifest>(entry.digest);
      assert.equal(manifest.layers.length, 3);
      assert.deepEqual(manifest.layers[1], {
        mediaType: MT.ociLayerTar,
        digest: b.layers[0]!.digest,
        size: b.layers[0]!.size,
        annotations: { 'org.opencontainers.image.title': 'models/ (3 files)', 'io.model-sync.layer.files': '["README.md","config.json","tokenizer/tokenizer.json"]' },
      });
      assert.deepEqual(manifest.layers[2]!.annotations, {
        'org.opencontainers.image.title': 'model.safetensors',
        'olot.layer.content.digest': b.layers[1]!.files[0]!.fileSha256,
        'olot.layer.content.type': 'file',
        'olot.layer.content.inlayerpath': '/models/weights/model.safetensors',
        'olot.layer.content.name': 'model.safetensors',
      });
      // The one-file layer is the same blob as in the one-layer-per-file modelcar.
      assert.equal(manifest.layers[2]!.digest, built.oci!.layers.find((l) => l.files[0]!.path === 'weights/model.safetensors')!.digest);
      const config = await layout.readJsonBlob<ImageConfig>(manifest.config.digest);
      assert.deepEqual(config.rootfs.diff_ids, [b.base.diffId, ...b.layers.map((l) => l.digest)]);
      assert.deepEqual(config.history!.slice(-2), [
        { created: MODEL_LAYER_CREATED, created_by: 'model-sync package /models/README.md and 2 more files' },
        { created: MODEL_LAYER_CREATED, created_by: 'model-sync package /models/weights/model.safetensors' },
      ]);
    }
    const again = await buildOn(path.join(work, 'grouped-again'), 'oci', new Date('2011-01-01T00:00:00Z'), 50_000);
    assert.equal(again.root.digest, b.root.digest, 'reproducible');
  });

  it('a planned modelcar is read by skopeo and unpacked by umoci (per platform) to the exact model bytes', { skip: toolsSkip }, async () => {
    const b = built.grouped!;
    const dir = path.join(work, 'export-grouped');
    await run('cp', ['-a', b.imageDir, dir]);
    assert.equal(await new ModelcarLayout(dir, b.modelDir, b.layers).materializeModelLayers(), 2);
    const { stdout } = await run('skopeo', ['inspect', `oci:${dir}:latest`]);
    assert.deepEqual((JSON.parse(stdout) as { Layers: string[] }).Layers, [b.base.layer.digest, ...b.layers.map((l) => l.digest)]);
    for (const arch of ['amd64', 'arm64']) {
      const single = path.join(work, `grouped-single-${arch}`);
      await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--override-arch', arch, '--override-os', 'linux', `oci:${dir}:latest`, `oci:${single}:latest`]);
      const bundle = path.join(work, `grouped-bundle-${arch}`);
      await run('umoci', ['unpack', '--image', `${single}:latest`, bundle]);
      for (const [rel, data] of Object.entries(MODEL)) {
        assert.deepEqual(await readFile(path.join(bundle, 'rootfs/models', rel)), data, `${arch}: /models/${rel}`);
        assert.equal((await stat(path.join(bundle, 'rootfs/models', rel))).mode & 0o777, 0o664);
      }
    }
  });

  it('counts the layers of the largest platform of the base, not attestation manifests', async () => {
    const layout = await new OciLayout(path.join(work, 'count')).init();
    const small = await writeImage(layout, { layers: [{ data: Buffer.from('one') }] });
    const large = await writeImage(layout, { layers: [1, 2, 3].map((i) => ({ data: Buffer.from(`layer ${i}`) })) });
    const statement = await layout.writeBlobBytes(Buffer.from('{}'), 'application/vnd.in-toto+json');
    const attConfig = await layout.writeJsonBlob({ architecture: 'unknown', os: 'unknown', rootfs: { type: 'layers', diff_ids: [] } }, MT.ociConfig);
    const statements = await layout.writeJsonBlob({ schemaVersion: 2, mediaType: MT.ociManifest, config: attConfig, layers: [statement, statement, statement, statement] }, MT.ociManifest, {
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    });
    const index = await layout.writeJsonBlob({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [small, large, statements] }, MT.ociIndex);
    assert.equal(await baseLayerCount(layout, index), 3);
    assert.equal(await baseLayerCount(layout, small), 1);
  });
});
