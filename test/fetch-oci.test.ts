// `model-sync fetch --source-type oci` through the built CLI: a modelcar pushed by skopeo (which
// gzips its layers), a ModelPack-style artifact, hostile layers, and a modelcar of grouped layers
// made by package and push, against a real docker-registry.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { OciLayout } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { pushLayout } from '../src/oci/transfer.js';
import { runCli, tempDir } from '../dev/cli.js';
import { memoryLogger, tarball, writeImage, type TarEntry } from './support/oci-images.js';
import { freePort, registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const run = promisify(execFile);
const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';
const busyboxSkip = skip || (spawnSync('/bin/busybox', ['--help'], { stdio: 'ignore' }).status === 0 ? false : 'busybox-static is not installed (/bin/busybox)');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function olotLayer(rel: string, data: Buffer) {
  return {
    data: tarball([{ name: `models/${rel}`, data }]),
    annotations: {
      'org.opencontainers.image.title': path.posix.basename(rel),
      'olot.layer.content.digest': `sha256:${sha256(data)}`,
      'olot.layer.content.type': 'file',
      'olot.layer.content.inlayerpath': `/models/${rel}`,
      'olot.layer.content.name': path.posix.basename(rel),
    },
  };
}

const baseLayer = () => ({ data: tarball([{ name: 'bin/', type: 'dir' }, { name: 'bin/sh', data: '#!fake shell\n', mode: 0o755 }]) });
const platforms = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

describe('fetch --source-type oci through the CLI', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  const files = { 'config.json': Buffer.from('{"architectures":["Test"]}\n'), 'onnx/model.onnx': randomBytes(300_000) };

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    work = await tempDir('ms-fetch-oci-');
    const layout = new OciLayout(path.join(work, 'modelcar'));
    await writeImage(layout, { layers: [baseLayer(), ...Object.entries(files).map(([rel, data]) => olotLayer(rel, data))], platforms });
    // skopeo pushes it as the upstream job does (gzip-compressing the layers on the way).
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:latest`, `docker://${registry.host}/fetch/modelcar:v1`]);
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const fetch = (storage: string, uri: string, env: Record<string, string> = {}) =>
    runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', uri, '--storage-path', storage], { MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'true', ...env });

  it('extracts the modelcar files under models/ (pushed by skopeo, gzip layers) with their sha256 in the inventory', async () => {
    const storage = path.join(work, 'ws1');
    const r = await fetch(storage, `${registry.host}/fetch/modelcar:v1`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { 'model-files': '2', 'model-bytes': String(files['config.json'].length + files['onnx/model.onnx'].length) });
    for (const [rel, data] of Object.entries(files)) assert.ok((await readFile(path.join(storage, 'model', rel))).equals(data), rel);
    assert.deepEqual((await readdir(path.join(storage, 'model'))).sort(), ['config.json', 'onnx']);
    const inventory = JSON.parse(await readFile(path.join(storage, '.model-sync/inventory.json'), 'utf8')) as { files: Array<{ path: string; sha256: string }> };
    assert.deepEqual(
      inventory.files.map((f) => [f.path, f.sha256]),
      Object.entries(files).map(([rel, data]) => [rel, sha256(data)]),
    );
    // gzip layers on the registry: skopeo compressed them
    const index = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/fetch/modelcar:v1`])).stdout) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/fetch/modelcar@${index.manifests[0]!.digest}`])).stdout) as { layers: Array<{ mediaType: string }> };
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(3).fill(MT.ociLayerTarGzip));

    // A re-run downloads no layer.
    const again = await fetch(storage, `${registry.host}/fetch/modelcar:v1`);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /fetching 0 of 3 layers/);
  });

  it('fetches from a local image layout (oci:<dir>:<tag>) without a registry', async () => {
    const storage = path.join(work, 'ws-local');
    const r = await fetch(storage, `oci:${path.join(work, 'modelcar')}:latest`);
    assert.equal(r.code, 0, r.stderr);
    for (const [rel, data] of Object.entries(files)) assert.ok((await readFile(path.join(storage, 'model', rel))).equals(data), rel);
  });

  it('fetches a ModelPack-style artifact: raw layers named by org.cncf.model.filepath, tar layers unpacked', async () => {
    const weights = randomBytes(200_000);
    const readme = Buffer.from('# A model\n');
    const layout = new OciLayout(path.join(work, 'modelpack'));
    const root = await writeImage(layout, {
      artifactType: MT.modelpackManifestArtifact,
      configMediaType: MT.modelpackConfig,
      config: { descriptor: { name: 'm' }, config: {}, modelfs: { type: 'layers', diffIds: [] } },
      layers: [
        { data: weights, mediaType: 'application/vnd.cncf.model.weight.v1.raw', annotations: { 'org.cncf.model.filepath': 'weights/model.safetensors', 'org.opencontainers.image.title': 'model.safetensors' } },
        { data: tarball([{ name: 'docs/README.md', data: readme }]), mediaType: 'application/vnd.cncf.model.doc.v1.tar' },
        { data: Buffer.from('legacy'), mediaType: 'application/vnd.cnai.model.weight.config.v1.raw', annotations: { 'org.cnai.model.filepath': 'legacy.json' } },
      ],
    });
    await pushLayout({ layout, root, reference: `${registry.host}/fetch/modelpack:v1`, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
    const storage = path.join(work, 'ws2');
    const r = await fetch(storage, `${registry.host}/fetch/modelpack:v1`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(path.join(storage, 'model/weights/model.safetensors'))).equals(weights));
    assert.ok((await readFile(path.join(storage, 'model/docs/README.md'))).equals(readme));
    assert.equal(await readFile(path.join(storage, 'model/legacy.json'), 'utf8'), 'legacy');
  });

  it('--source-exclude: a raw layer left out is never downloaded, tar layer entries left out are never written', async () => {
    const storage = path.join(work, 'ws-patterns');
    const r = await fetch(storage, `${registry.host}/fetch/modelpack:v1`, { MODEL_SYNC_SOURCE_EXCLUDE: '["*.safetensors", "docs/"]' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /fetching 2 of 2 layers/, 'the excluded raw layer is not planned');
    assert.deepEqual(await readdir(path.join(storage, 'model'), { recursive: true }), ['legacy.json']);
    const inventory = JSON.parse(await readFile(path.join(storage, '.model-sync/inventory.json'), 'utf8')) as { filtered?: { skipped: number; first: string[] } };
    assert.deepEqual(inventory.filtered, { skipped: 2, first: ['weights/model.safetensors', 'docs/README.md'] });

    const modelcar = path.join(work, 'ws-patterns-modelcar');
    const m = await fetch(modelcar, `${registry.host}/fetch/modelcar:v1`, { MODEL_SYNC_SOURCE_INCLUDE: '*.json' });
    assert.equal(m.code, 0, m.stderr);
    assert.deepEqual(await readdir(path.join(modelcar, 'model'), { recursive: true }), ['config.json']);
  });

  async function pushHostile(name: string, entries: TarEntry[]): Promise<string> {
    const layout = new OciLayout(path.join(work, `hostile-${name}`));
    const root = await writeImage(layout, { layers: [{ data: tarball([{ name: 'models/ok.txt', data: 'fine' }]) }, { data: tarball(entries) }] });
    const reference = `${registry.host}/fetch/hostile-${name}:v1`;
    await pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 1, log: memoryLogger().log });
    return reference;
  }

  for (const [name, entries, reason] of [
    ['dotdot', [{ name: 'models/../../../escaped.txt', data: 'evil' }], /contains "\.\."/],
    ['toplevel', [{ name: '../escaped.txt', data: 'evil' }], /contains "\.\."/],
    ['symlink', [{ name: 'models/link', type: 'symlink', linkname: '../../../../../../tmp' }], /leaves the workspace/],
  ] as Array<[string, TarEntry[], RegExp]>) {
    it(`refuses a hostile layer (${name}) with exit code 6 and writes nothing outside model/`, async () => {
      const reference = await pushHostile(name, entries);
      const storage = path.join(work, `ws-${name}`);
      const r = await fetch(storage, reference);
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.termination, reason);
      assert.ok(r.termination.includes(reference), r.termination);
      for (const p of [path.join(work, 'escaped.txt'), path.join(storage, 'escaped.txt'), path.join(storage, '..', 'escaped.txt')]) {
        await assert.rejects(access(p), `${p} must not exist`);
      }
      await assert.rejects(access(path.join(storage, 'model/link')));
    });
  }

  it('an unknown tag: exit code 5 naming registry and reference', async () => {
    const reference = `${registry.host}/fetch/modelcar:nope`;
    const r = await fetch(path.join(work, 'ws-nf'), reference);
    assert.equal(r.code, 5, r.stderr);
    assert.ok(r.termination.includes(`cannot fetch ${reference}`) && r.termination.includes(`registry ${registry.host}`), r.termination);
  });

  it('an unknown repository: exit code 5', async () => {
    const r = await fetch(path.join(work, 'ws-nr'), `${registry.host}/fetch/none:v1`);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.termination, /not found on registry/);
  });

  it('a registry that is down: exit code 10', async () => {
    const port = await freePort();
    const r = await fetch(path.join(work, 'ws-down'), `127.0.0.1:${port}/fetch/x:v1`);
    assert.equal(r.code, 10, r.stderr);
    assert.match(r.termination, new RegExp(`registry 127\\.0\\.0\\.1:${port} is unreachable`));
  });
});

describe('fetch --source-type oci reads back a modelcar of grouped layers', { skip: busyboxSkip }, () => {
  let registry: TestRegistry;
  let work: string;
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 200; i++) files[`tok/part-${String(i).padStart(3, '0')}.json`] = Buffer.from(`{"part":${i}}\n`.repeat(1 + (i % 13)));
  for (let i = 0; i < 6; i++) files[`weights/shard-${i}-of-6.safetensors`] = randomBytes(60_000 + i * 1000);
  files['config.json'] = Buffer.from('{"architectures":["Grouped"]}\n');
  files[`${'deep/'.repeat(25)}modèle.bin`] = randomBytes(777); // GNU long name inside a shared layer
  files['empty.txt'] = Buffer.alloc(0);

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    work = await tempDir('ms-fetch-grouped-');
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('package (3 model layers for 209 files) → push → fetch gives byte-identical files, and a re-fetch downloads nothing', async () => {
    const base = await buildBusyboxBase(path.join(work, 'base'));
    const storage = path.join(work, 'ws');
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(storage, 'model', rel)), { recursive: true });
      await writeFile(path.join(storage, 'model', rel), data);
    }
    // Files of 50 kB and more are large; 1 base layer + 3: the small files share one layer, the 6 shards form 2 runs.
    const p = await runCli(['package', '--storage-path', storage, '--destination-oci-base-image', `oci:${base.dir}`, '--modelcar-max-layers', '4', '--modelcar-own-layer-bytes', '50000']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /package: 3 model layers \(0 own, 1 shared by small files, 2 of grouped large files\)/);
    const reference = `${registry.host}/fetch/grouped:v1`;
    const u = await runCli(['push', '--storage-path', storage, '--destination-type', 'oci', '--destination-oci-uri', reference, '--destination-oci-enable-tls-verify', 'false']);
    assert.equal(u.code, 0, u.stderr);

    const out = path.join(work, 'fetched');
    const r = await fetchPlain(out, reference);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /fetching 4 of 4 layers/);
    assert.equal(JSON.parse(r.stdout)['model-files'], String(Object.keys(files).length));
    for (const [rel, data] of Object.entries(files)) assert.ok((await readFile(path.join(out, 'model', rel))).equals(data), rel);
    const inventory = JSON.parse(await readFile(path.join(out, '.model-sync/inventory.json'), 'utf8')) as { files: Array<{ path: string; sha256: string }> };
    assert.equal(inventory.files.length, Object.keys(files).length);
    for (const f of inventory.files) assert.equal(f.sha256, sha256(files[f.path]!), f.path);

    const again = await fetchPlain(out, reference);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /fetching 0 of 4 layers/);
  });

  const fetchPlain = (storage: string, uri: string) =>
    runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', uri, '--storage-path', storage], { MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'false' });
});
