// Each digest once: fetch records each file's sha256 with its size and mtime, and package then
// reads every model file exactly once, for the layer digest only, taking the file digest from
// fetch; a file whose mtime or size changed since is hashed again and gets its true digest. The
// reads are counted by the layer hasher (oci/layer-hasher.ts) and logged by package.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase, type BusyboxBase } from '../dev/busybox-base.js';
import { runCli, tempDir } from '../dev/cli.js';
import { hashTarLayerGroup } from '../src/oci/layer-hasher.js';
import { OciLayout } from '../src/oci/layout.js';
import { modelLayers, readRecord } from '../src/workspace/records.js';
import { Workspace } from '../src/workspace/workspace.js';
import { tar } from './support/archives.js';
import { logLines, readInventory, sha256 } from './support/fetch-helpers.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { writeImage } from './support/oci-images.js';

const busyboxSkip = spawnSync('/bin/busybox', ['--help'], { stdio: 'ignore' }).status === 0 ? false : 'busybox-static is not installed (/bin/busybox)';

const FILES: Record<string, Buffer> = {
  'config.json': Buffer.from('{"architectures":["Demo"]}\n'),
  'model-1.safetensors': randomBytes(300_000),
  'model-2.safetensors': randomBytes(5 * 1024 * 1024 + 77), // more than two 2 MiB reads
  'tokenizer/vocab.txt': randomBytes(4_000),
};
const TOTAL = Object.values(FILES).reduce((n, b) => n + b.length, 0);

interface HashLog {
  filesRead: number;
  bytesRead: number;
  fileDigestsComputed: number;
  fileDigestsReused: number;
  hashed: number;
}

function hashLog(stderr: string): HashLog {
  const line = logLines(stderr).find((l) => typeof l.filesRead === 'number');
  assert.ok(line, `no hash counts logged:\n${stderr}`);
  return line as unknown as HashLog;
}

describe('each digest once: fetch, then package', { skip: busyboxSkip }, () => {
  let work: string;
  let web: TestHttpServer;
  let base: BusyboxBase;
  before(async () => {
    work = await tempDir('ms-digest-once-');
    base = await buildBusyboxBase(path.join(work, 'base'));
    web = await startHttpServer();
    web.routes.set('/model.tar', { body: tar(Object.entries(FILES).map(([name, body]) => ({ name, body }))), contentType: 'application/x-tar' });
  });
  after(async () => {
    await web?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const packageArgs = (ws: string) => ['package', '--storage-path', ws, '--destination-oci-base-image', `oci:${base.dir}`, '--modelcar-own-layer-bytes', '100000'];

  it('reads each file once when fetch recorded it; hashes again a file whose mtime or size changed', async () => {
    const ws = path.join(work, 'ws');
    const fetched = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `${web.url}/model.tar` });
    assert.equal(fetched.code, 0, fetched.stderr);
    const inventory = await readInventory(ws);
    for (const f of inventory.files) {
      const { mtimeMs } = await stat(path.join(ws, 'model', f.path));
      assert.equal((f as { mtimeMs?: number }).mtimeMs, mtimeMs, `fetch records the mtime of model/${f.path}`);
    }

    // 1. Every file read exactly once, for the layer digest; no file digest computed again.
    const first = await runCli(packageArgs(ws));
    assert.equal(first.code, 0, first.stderr);
    const counts = hashLog(first.stderr);
    assert.equal(counts.filesRead, 4, 'each model file opened once');
    assert.equal(counts.bytesRead, TOTAL, 'each byte read once');
    assert.equal(counts.fileDigestsComputed, 0, "fetch's file digests are reused");
    assert.equal(counts.fileDigestsReused, 4);
    const wsObj = new Workspace(ws);
    const recorded = () => readRecord(wsObj, 'package').then((r) => new Map(modelLayers(r).flatMap((l) => l.files.map((f) => [f.path, f.fileSha256]))));
    for (const [p, body] of Object.entries(FILES)) assert.equal((await recorded()).get(p), `sha256:${sha256(body)}`);
    const firstDigest = JSON.parse(first.stdout)['image-digest'] as string;

    // 2. Touched (same bytes, other mtime): its layer and its file digest are computed again, and right.
    const touched = path.join(ws, 'model', 'model-2.safetensors');
    await utimes(touched, new Date(7_000_000), new Date(7_000_000));
    const second = await runCli(packageArgs(ws));
    assert.equal(second.code, 0, second.stderr);
    const again = hashLog(second.stderr);
    assert.equal(again.hashed, 1, 'only the layer of the touched file is hashed');
    assert.deepEqual([again.filesRead, again.bytesRead, again.fileDigestsComputed], [1, FILES['model-2.safetensors']!.length, 1], 'the touched file is read once and its digest computed');
    assert.equal((await recorded()).get('model-2.safetensors'), `sha256:${sha256(FILES['model-2.safetensors']!)}`);
    assert.equal(JSON.parse(second.stdout)['image-digest'], firstDigest, 'same bytes, same image');

    // 3. Same size, other bytes, other mtime: hashed again, so the change is caught with the true digest.
    const changed = Buffer.from(FILES['model-1.safetensors']!);
    changed[1000] = changed[1000]! ^ 0xff;
    await writeFile(path.join(ws, 'model', 'model-1.safetensors'), changed);
    await utimes(path.join(ws, 'model', 'model-1.safetensors'), new Date(8_000_000), new Date(8_000_000));
    const third = await runCli(packageArgs(ws));
    assert.equal(third.code, 7, third.stderr);
    assert.match(third.termination, new RegExp(`model file model-1\\.safetensors has sha256 sha256:${sha256(changed)} but the inventory says sha256:${sha256(FILES['model-1.safetensors']!)}`));

    // 4. Without fetch's inventory (a model folder filled by hand), a file of another size is hashed again.
    await rm(path.join(ws, '.model-sync', 'inventory.json'));
    await writeFile(path.join(ws, 'model', 'model-1.safetensors'), FILES['model-1.safetensors']!);
    const fourth = await runCli(packageArgs(ws));
    assert.equal(fourth.code, 0, fourth.stderr);
    await truncate(path.join(ws, 'model', 'tokenizer/vocab.txt'), 1000);
    const fifth = await runCli(packageArgs(ws));
    assert.equal(fifth.code, 0, fifth.stderr);
    const sized = hashLog(fifth.stderr);
    assert.equal(sized.hashed, 1);
    assert.equal(sized.fileDigestsComputed, sized.filesRead, 'no inventory: every file read is hashed');
    assert.equal((await recorded()).get('tokenizer/vocab.txt'), `sha256:${sha256(FILES['tokenizer/vocab.txt']!.subarray(0, 1000))}`);
  });

  it('hashes the real plan when the base has more layers than the early start assumed (one)', async () => {
    // Package starts hashing while the base is pulled, on the plan for a one-layer base. With 3
    // base layers and a budget of 5, the 3 weights files no longer keep a layer each: the early
    // hashing is dropped and the real plan (one grouped layer + the small files) is hashed.
    const threeLayers = new OciLayout(path.join(work, 'base-three-layers'));
    await writeImage(threeLayers, { layers: [{ data: Buffer.from('one') }, { data: Buffer.from('two') }, { data: Buffer.from('three') }], platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const ws = path.join(work, 'ws-three');
    const fetched = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `${web.url}/model.tar` });
    assert.equal(fetched.code, 0, fetched.stderr);
    await writeFile(path.join(ws, 'model', 'model-3.safetensors'), randomBytes(200_000));
    await rm(path.join(ws, '.model-sync', 'inventory.json')); // the extra file is not in fetch's inventory
    const r = await runCli(['package', '--storage-path', ws, '--destination-oci-base-image', `oci:${threeLayers.dir}:latest`, '--modelcar-own-layer-bytes', '100000', '--modelcar-max-layers', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /package: 2 model layers \(0 own, 1 shared by small files, 1 of grouped large files\) on 3 base layers, budget 5/);
    assert.equal(logLines(r.stderr).filter((l) => typeof l.filesRead === 'number').length, 1, 'one hash report: the dropped early start logs nothing');
    const layers = modelLayers(await readRecord(new Workspace(ws), 'package'));
    assert.deepEqual(layers.map((l) => l.files.map((f) => f.path)), [['config.json', 'tokenizer/vocab.txt'], ['model-1.safetensors', 'model-2.safetensors', 'model-3.safetensors']]);
    for (const l of layers) {
      const expected = await hashTarLayerGroup(l.files.map((f) => ({ file: path.join(ws, 'model', f.path), path: f.path })));
      assert.equal(l.digest, expected.digest, `layer of ${l.files.map((f) => f.path).join(', ')}`);
    }
  });
});
