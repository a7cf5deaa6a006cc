// `model-sync package` through the built CLI: base images from a real docker-registry (pushed with
// skopeo --preserve-digests, and a Docker-typed one) and from a local layout; the record, the
// result, re-runs, the disk budget, and the failures a user can meet.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildBusyboxBase, type BusyboxBase } from '../dev/busybox-base.js';
import { OciLayout, sha256Digest } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { ModelcarLayout } from '../src/oci/modelcar-layout.js';
import { pushLayout } from '../src/oci/transfer.js';
import type { ImageIndex, ImageManifest } from '../src/oci/types.js';
import { hashTarLayer } from '../src/oci/layer-hasher.js';
import { modelLayers, readRecord, writeRecord, type LegacyModelLayerRecord } from '../src/workspace/records.js';
import { Workspace } from '../src/workspace/workspace.js';
import { runCli, tempDir } from '../dev/cli.js';
import { memoryLogger, writeImage } from './support/oci-images.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const run = promisify(execFile);
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
const busyboxSkip = has('/bin/busybox', '--help') ? false : 'busybox-static is not installed (/bin/busybox)';
const registrySkip = busyboxSkip || (!registryAvailable() ? 'docker-registry is not installed (apt-get install docker-registry)' : !has('skopeo') ? 'skopeo is not installed' : false);

const MODEL: Record<string, string> = {
  'config.json': '{"architectures":["Demo"]}\n',
  'model.safetensors': 'w'.repeat(300_000),
  'nested/dir/tokenizer.json': '{"v":1}\n',
};

async function workspaceWithModel(storage: string, withInventory: boolean): Promise<Workspace> {
  const ws = await new Workspace(storage).init();
  for (const [rel, data] of Object.entries(MODEL)) {
    const file = path.join(ws.modelDir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
  }
  if (withInventory) {
    const files = Object.entries(MODEL).map(([p, d]) => ({ path: p, size: Buffer.byteLength(d), sha256: sha256Digest(d).slice(7) }));
    await writeRecord(ws, 'inventory', { source: 'test', files, totalBytes: files.reduce((n, f) => n + f.size, 0) });
  }
  return ws;
}

function logLines(stderr: string): Array<Record<string, unknown> & { msg: string }> {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string });
}

const notImplemented = (r: { stderr: string }) => /pullToLayout is not implemented|not implemented yet/.test(r.stderr);

describe('package through the CLI', { skip: busyboxSkip }, () => {
  let work: string;
  let dockerBase: BusyboxBase;
  before(async () => {
    work = await tempDir('ms-package-cli-');
    dockerBase = await buildBusyboxBase(path.join(work, 'base-docker'), { mediaTypes: 'docker' });
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('packages from a local Docker-typed base layout: OCI index, record, result, no model copy in image/', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-local'), true);
    const r = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}:latest`]);
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.equal(r.code, 0, r.stderr);
    const record = (await readRecord(ws, 'package'))!;
    assert.deepEqual(JSON.parse(r.stdout), { 'image-digest': record.indexDigest });
    assert.equal(await ws.readResult('image-digest'), record.indexDigest);
    assert.equal(record.baseImage, `oci:${dockerBase.dir}:latest`);
    assert.equal(record.baseDigest, dockerBase.indexDigest);
    assert.equal(record.mediaType, MT.ociIndex);
    // Three small files (below --modelcar-own-layer-bytes): one shared layer.
    const layers = modelLayers(record);
    assert.deepEqual(layers.map((l) => l.files.map((f) => f.path)), [['config.json', 'model.safetensors', 'nested/dir/tokenizer.json']]);
    for (const f of layers[0]!.files) assert.equal(f.fileSha256, sha256Digest(MODEL[f.path]!));
    assert.match(r.stderr, /package: 1 model layers \(0 own, 1 shared by small files, 0 of grouped large files\) on 1 base layers, budget 100/);
    assert.doesNotMatch(r.stderr, /do not start on CRI-O/);
    const layout = new OciLayout(ws.imageDir);
    const index = await layout.readJsonBlob<ImageIndex>(record.indexDigest);
    assert.equal(index.manifests.length, 2);
    for (const e of index.manifests) {
      const m = await layout.readJsonBlob<ImageManifest>(e.digest);
      assert.deepEqual(m.layers.slice(1).map((l) => l.digest), layers.map((l) => l.digest));
      assert.deepEqual(m.layers[1]!.annotations, { 'org.opencontainers.image.title': 'models/ (3 files)', 'io.model-sync.layer.files': '["config.json","model.safetensors","nested/dir/tokenizer.json"]' });
    }
    // Disk budget: image/ holds the base and documents, not the model.
    let imageBytes = 0;
    for (const name of await readdir(layout.blobsDir)) imageBytes += (await stat(path.join(layout.blobsDir, name))).size;
    assert.ok(imageBytes < (await stat(path.join(dockerBase.dir, 'blobs/sha256', dockerBase.layer.digest.slice(7)))).size + 20_000, `image/ is ${imageBytes} bytes`);
  });

  it('re-uses the recorded layers when the model is unchanged, and hashes again what changed', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-rerun'), false);
    // model.safetensors (300 kB) alone, the two small files in a shared layer
    const args = ['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`, '--modelcar-own-layer-bytes', '100000'];
    const first = await runCli(args);
    if (notImplemented(first)) return t.skip('pullToLayout is still a stub');
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout)['image-digest'], JSON.parse(first.stdout)['image-digest']);
    assert.match(second.stderr, /0 layers hashed, 2 reused/);
    assert.deepEqual(modelLayers(await readRecord(ws, 'package')).map((l) => l.files.map((f) => f.path)), [['config.json', 'nested/dir/tokenizer.json'], ['model.safetensors']]);

    await writeFile(path.join(ws.modelDir, 'config.json'), '{"architectures":["Changed"]}\n');
    await utimes(path.join(ws.modelDir, 'config.json'), new Date(5_000_000), new Date(5_000_000));
    const third = await runCli(args);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /1 layers hashed, 1 reused/, 'the shared layer of the changed file is hashed again; the weights layer is reused');
    assert.notEqual(JSON.parse(third.stdout)['image-digest'], JSON.parse(first.stdout)['image-digest']);
    const line = logLines(third.stderr).find((l) => typeof l.staleBlobsRemoved === 'number');
    assert.equal(line?.staleBlobsRemoved, 5, 'the index, two manifests and two configs of the older modelcar are removed');
  });

  it('fails with one clear line for an empty model, a file missing from the inventory, a link out of model/, and a missing base', async (t) => {
    const empty = await new Workspace(path.join(work, 'ws-empty')).init();
    const e = await runCli(['package', '--storage-path', empty.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`]);
    assert.equal(e.code, 3, e.stderr);
    assert.match(e.termination, /^no model files in .*ws-empty\/model: run fetch first/);

    const gone = await workspaceWithModel(path.join(work, 'ws-gone'), true);
    await rm(path.join(gone.modelDir, 'nested/dir/tokenizer.json'));
    const g = await runCli(['package', '--storage-path', gone.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`]);
    assert.equal(g.code, 3, g.stderr);
    assert.match(g.termination, /model file nested\/dir\/tokenizer\.json listed in .*inventory\.json is missing/);

    const linked = await workspaceWithModel(path.join(work, 'ws-link'), false);
    await symlink('/etc/passwd', path.join(linked.modelDir, 'passwd'));
    const l = await runCli(['package', '--storage-path', linked.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`]);
    assert.equal(l.code, 6, l.stderr);
    assert.match(l.termination, /^refusing model file "passwd": it is a link that leads out of the model folder/);

    const ws = await workspaceWithModel(path.join(work, 'ws-nobase'), true);
    const n = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}:nosuchtag`]);
    if (notImplemented(n)) return t.skip('pullToLayout is still a stub');
    assert.equal(n.code, 5, n.stderr);
    assert.equal(n.termination.split('\n').length, 1);
    assert.match(n.termination, /cannot pull the base image oci:.*:nosuchtag \(--destination-oci-base-image \/ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE\)/);
  });

  it('packs a link to a file inside model/ as a file with the bytes of its target (fetch keeps such links from archives)', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-inner-link'), false);
    await symlink('../model.safetensors', path.join(ws.modelDir, 'nested/alias.safetensors'));
    await symlink('nowhere', path.join(ws.modelDir, 'dangling'));
    const r = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`]);
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /model\/dangling is a link to a folder or to nothing: not packed/);
    const record = (await readRecord(ws, 'package'))!;
    const files = modelLayers(record).flatMap((l) => l.files);
    const alias = files.find((f) => f.path === 'nested/alias.safetensors');
    assert.equal(alias?.fileSha256, sha256Digest(MODEL['model.safetensors']!));
    assert.equal(files.length, 4);
  });

  it('refuses a model file whose bytes differ from the inventory', async () => {
    const ws = await workspaceWithModel(path.join(work, 'ws-tampered'), true);
    await writeFile(path.join(ws.modelDir, 'config.json'), '{"architectures":["Dxmo"]}\n'); // same length, other bytes
    const r = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`]);
    if (notImplemented(r)) return;
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.termination, /model file config\.json has sha256 sha256:[0-9a-f]{64} but the inventory says/);
  });
  it('a 2-file model (config + weights of 17 MiB) keeps one layer per file, with the digests of one-file layers', async (t) => {
    const ws = await new Workspace(path.join(work, 'ws-two')).init();
    const weights = Buffer.alloc(17 * 1024 * 1024);
    for (let i = 0; i < weights.length; i += 4096) weights[i] = (i / 4096) % 256;
    await writeFile(path.join(ws.modelDir, 'config.json'), MODEL['config.json']!);
    await writeFile(path.join(ws.modelDir, 'model.safetensors'), weights);
    const args = ['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`];
    const r = await runCli(args);
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /package: 2 model layers \(1 own, 1 shared by small files, 0 of grouped large files\)/);
    const record = (await readRecord(ws, 'package'))!;
    const layers = modelLayers(record);
    assert.deepEqual(layers.map((l) => l.files.map((f) => f.path)), [['config.json'], ['model.safetensors']]);
    for (const l of layers) {
      const alone = await hashTarLayer(path.join(ws.modelDir, l.files[0]!.path), l.files[0]!.path);
      assert.equal(l.digest, alone.digest, `${l.files[0]!.path}: the one-file layer of 0.1.0 (test/package-tar-layer.test.ts pins its bytes)`);
    }
    const m = await new OciLayout(ws.imageDir).readJsonBlob<ImageManifest>((await new OciLayout(ws.imageDir).readJsonBlob<ImageIndex>(record.indexDigest)).manifests[0]!.digest);
    assert.equal(m.layers[1]!.annotations?.['olot.layer.content.inlayerpath'], '/models/config.json');

    // A record as 0.1.0 wrote it (one path per layer): package reuses it 1:1, push still makes the layers.
    const legacy: LegacyModelLayerRecord[] = layers.map((l) => ({ digest: l.digest, size: l.size, ...l.files[0]! }));
    await writeRecord(ws, 'package', { ...record, layers: legacy });
    const exported = path.join(work, 'export-two');
    const pushed = await runCli(['push', '--storage-path', ws.root, '--destination-type', 'oci', '--destination-oci-uri', `oci:${exported}:v1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(JSON.parse(pushed.stdout)['image-digest'], record.indexDigest);
    for (const l of layers) assert.equal(sha256Digest(await readFile(path.join(exported, 'blobs/sha256', l.digest.slice(7)))), l.digest);
    await writeRecord(ws, 'package', { ...record, layers: legacy });
    const again = await runCli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 layers hashed, 2 reused/);
    assert.equal(JSON.parse(again.stdout)['image-digest'], record.indexDigest);
    assert.ok((await readRecord(ws, 'package'))!.layers.every((l) => Array.isArray((l as { files?: unknown }).files)), 'written back in the current shape');

    // A record of neither shape: push fails clearly, package simply hashes again.
    const broken = { ...record, layers: layers.map((l) => ({ digest: l.digest, size: l.size })) } as unknown as typeof record;
    await writeRecord(ws, 'package', broken);
    const refused = await runCli(['push', '--storage-path', ws.root, '--destination-type', 'oci', '--destination-oci-uri', `oci:${exported}-2:v1`]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.termination, /the package record's layer sha256:[0-9a-f]{64} lists no model files: run package again/);
    await writeRecord(ws, 'package', broken);
    const rehashed = await runCli(args);
    assert.equal(rehashed.code, 0, rehashed.stderr);
    assert.match(rehashed.stderr, /2 layers hashed, 0 reused/);
    assert.equal(JSON.parse(rehashed.stdout)['image-digest'], record.indexDigest);
  });

  it('groups large files when they alone exceed the budget, and logs the plan', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-grouped'), true);
    for (let i = 0; i < 5; i++) await writeFile(path.join(ws.modelDir, `shard-${i}.bin`), Buffer.alloc(1000 + i, i));
    await rm(path.join(ws.stateDir, 'inventory.json'));
    // 1 base layer + 3: every file counts as large, 8 files in 3 runs
    const r = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${dockerBase.dir}`, '--modelcar-max-layers', '4', '--modelcar-own-layer-bytes', '1']);
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /package: 3 model layers \(0 own, 0 shared by small files, 3 of grouped large files\) on 1 base layers, budget 4/);
    const layers = modelLayers(await readRecord(ws, 'package'));
    assert.equal(layers.length, 3);
    assert.deepEqual(layers.flatMap((l) => l.files.map((f) => f.path)), ['config.json', 'model.safetensors', 'nested/dir/tokenizer.json', 'shard-0.bin', 'shard-1.bin', 'shard-2.bin', 'shard-3.bin', 'shard-4.bin'].sort());
  });

  it('refuses a budget the base uses up (exit 2, naming the setting and the base layers) and warns above 127 layers', async (t) => {
    const twoLayers = new OciLayout(path.join(work, 'base-two-layers'));
    await writeImage(twoLayers, { layers: [{ data: Buffer.from('one') }, { data: Buffer.from('two') }], platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const ws = await workspaceWithModel(path.join(work, 'ws-budget'), true);
    const r = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${twoLayers.dir}:latest`, '--modelcar-max-layers', '2']);
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.termination, /^--modelcar-max-layers \/ MODEL_SYNC_MODELCAR_MAX_LAYERS is 2, but the base image already has 2 layers/);
    const w = await runCli(['package', '--storage-path', ws.root, '--destination-oci-base-image', `oci:${twoLayers.dir}:latest`], { MODEL_SYNC_MODELCAR_MAX_LAYERS: '200' });
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stderr, /MODEL_SYNC_MODELCAR_MAX_LAYERS is 200: images with more layers than ~128 do not start on CRI-O\/podman\/Docker overlay/);
  });
});

describe('package with a base image in a registry', { skip: registrySkip }, () => {
  let registry: TestRegistry;
  let work: string;
  let ociBase: BusyboxBase;
  let dockerBase: BusyboxBase;
  const env = (base: string) => ({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base, MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' });

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    work = await tempDir('ms-package-reg-');
    ociBase = await buildBusyboxBase(path.join(work, 'base-oci'));
    // --preserve-digests: skopeo would otherwise gzip again and change the digests.
    await run('skopeo', ['copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${ociBase.dir}:latest`, `docker://${registry.host}/busybox:latest`]);
    // A registry serving Docker media types, as Docker Hub does for busybox (skopeo cannot read a
    // Docker manifest list from a layout, so our own push puts it there).
    dockerBase = await buildBusyboxBase(path.join(work, 'base-docker'), { mediaTypes: 'docker' });
    await pushLayout({ layout: new OciLayout(dockerBase.dir), root: dockerBase.index, reference: `${registry.host}/library/busybox-docker:1`, tlsVerify: false, concurrency: 2, log: memoryLogger().log }).catch((err: Error) => {
      if (!/not implemented/.test(err.message)) throw err;
    });
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls the skopeo-pushed base from the registry and builds the same modelcar as from the layout', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-reg'), true);
    const r = await runCli(['package', '--storage-path', ws.root], env(`${registry.host}/busybox:latest`));
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.equal(r.code, 0, r.stderr);
    const record = (await readRecord(ws, 'package'))!;
    assert.equal(record.baseDigest, ociBase.indexDigest, 'the registry served our digests');

    const local = await workspaceWithModel(path.join(work, 'ws-reg-local'), true);
    const l = await runCli(['package', '--storage-path', local.root, '--destination-oci-base-image', `oci:${ociBase.dir}`]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(JSON.parse(l.stdout)['image-digest'], record.indexDigest, 'same model on the same base: same digest');

    // The layout is valid for outside tools once the model layers are written out.
    const layout = ModelcarLayout.fromRecord(ws.imageDir, ws.modelDir, record);
    assert.equal(await layout.materializeModelLayers(), 1);
    const { stdout } = await run('skopeo', ['inspect', `oci:${ws.imageDir}:latest`]);
    assert.equal((JSON.parse(stdout) as { Layers: string[] }).Layers.length, 2);
  });

  it('converts a Docker-typed base pulled from the registry to OCI', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-docker'), true);
    const r = await runCli(['package', '--storage-path', ws.root], env(`${registry.host}/library/busybox-docker:1`));
    if (notImplemented(r)) return t.skip('pullToLayout (or pushLayout for the Docker base) is still a stub');
    assert.equal(r.code, 0, r.stderr);
    const record = (await readRecord(ws, 'package'))!;
    assert.equal(record.baseDigest, dockerBase.indexDigest);
    const index = await new OciLayout(ws.imageDir).readJsonBlob<ImageIndex>(record.indexDigest);
    assert.equal(index.mediaType, MT.ociIndex);
    assert.ok(index.manifests.every((m) => m.mediaType === MT.ociManifest));
  });

  it('names the registry and reference when the base image does not exist, and exits non-zero', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-missing'), true);
    const ref = `${registry.host}/library/no-such-base:latest`;
    const r = await runCli(['package', '--storage-path', ws.root], env(ref));
    if (notImplemented(r)) return t.skip('pullToLayout is still a stub');
    assert.notEqual(r.code, 0);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.termination.split('\n').length, 1, r.termination);
    assert.ok(r.termination.includes(ref), r.termination);
    assert.match(r.termination, /^cannot pull the base image /);
  });

  it('a package then push puts the modelcar in the registry without a model copy in image/', async (t) => {
    const ws = await workspaceWithModel(path.join(work, 'ws-push'), true);
    const p = await runCli(['package', '--storage-path', ws.root], env(`${registry.host}/busybox:latest`));
    if (notImplemented(p)) return t.skip('pullToLayout is still a stub');
    assert.equal(p.code, 0, p.stderr);
    const target = `${registry.host}/models/demo:v1`;
    const r = await runCli(['push', '--storage-path', ws.root, '--destination-type', 'oci', '--destination-oci-uri', target, '--destination-oci-enable-tls-verify', 'false']);
    assert.equal(r.code, 0, r.stderr);
    const digest = JSON.parse(p.stdout)['image-digest'] as string;
    assert.match(r.stderr, /uploaded 3 blobs, skipped 1 already present \(1 mounted\)/, '1 shared model layer and 2 configs; the base layer is mounted from busybox');
    assert.equal(JSON.parse(r.stdout)['image-digest'], digest);
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${target}`]);
    assert.equal(sha256Digest(Buffer.from(stdout)), digest);
    // From the outside: the layers streamed from model/ unpack to the exact model bytes.
    const single = path.join(work, 'pulled-arm64');
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', '--override-arch', 'arm64', '--override-os', 'linux', `docker://${target}`, `oci:${single}:latest`]);
    if (!has('umoci')) return;
    const bundle = path.join(work, 'pulled-bundle');
    await run('umoci', ['unpack', '--image', `${single}:latest`, bundle]);
    for (const [rel, data] of Object.entries(MODEL)) assert.equal(await readFile(path.join(bundle, 'rootfs/models', rel), 'utf8'), data, rel);
  });
});
