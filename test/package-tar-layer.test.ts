// The tar layer of one or several model files: read back by GNU tar and node-tar, reproducible
// digests (a one-file layer pinned to 0.1.0's bytes), long names, base-256 sizes, on-the-fly
// streaming (whole and ranged, across members) and the lazy model layers of a layout.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Header } from 'tar';
import { ModelcarLayout } from '../src/oci/modelcar-layout.js';
import { hashTarLayer, hashTarLayerGroup } from '../src/oci/layer-hasher.js';
import { encodeTarHeader, openTarLayerStream, tarLayerFraming, tarLayerSegments, tarLayerSize, TAR_LAYER_FILE_MODE } from '../src/oci/tar-layer.js';
import { tempDir } from '../dev/cli.js';

const run = promisify(execFile);
const gnuTar = spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout?.includes('GNU tar') ? false : 'GNU tar is not installed';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The stream source of a one-file layer. */
const oneFile = (file: string, rel: string, info: { fileSize: number; digest: string }) => ({ members: [{ file, path: rel, fileSize: info.fileSize }], digest: info.digest });

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('tar layer of one model file', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ms-tar-layer-');
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function modelFile(rel: string, data: Buffer | string): Promise<string> {
    const file = path.join(work, 'model', rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    return file;
  }

  async function layerBytes(file: string, rel: string): Promise<{ bytes: Buffer; info: Awaited<ReturnType<typeof hashTarLayer>> }> {
    const info = await hashTarLayer(file, rel);
    const bytes = await collect(openTarLayerStream(oneFile(file, rel, info)));
    return { bytes, info };
  }

  it('hashes layer and file in one read, and the streamed layer has exactly that digest and size', async () => {
    const data = Buffer.from('x'.repeat(1000));
    const file = await modelFile('config.json', data);
    const { bytes, info } = await layerBytes(file, 'config.json');
    assert.equal(info.fileSha256, sha(data));
    assert.equal(info.fileSize, 1000);
    assert.equal(info.digest, sha(bytes));
    assert.equal(info.size, bytes.length);
    // 512 header + 1024 data (padded) + 1024 end-of-archive
    assert.equal(bytes.length, 512 + 1024 + 1024);
    assert.ok(bytes.subarray(bytes.length - 1024).every((b) => b === 0));
  });

  it('is read by GNU tar as models/<path>, 0664, 0/0, no owner names, fixed mtime, no directory entries', { skip: gnuTar }, async () => {
    const data = Buffer.from('weights\n');
    const file = await modelFile('onnx/model.onnx', data);
    const { bytes } = await layerBytes(file, 'onnx/model.onnx');
    const tarFile = path.join(work, 'one.tar');
    await writeFile(tarFile, bytes);
    const { stdout } = await run('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', '--utc', '-f', tarFile], { env: { ...process.env, TZ: 'UTC' } });
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, stdout);
    assert.match(lines[0]!, /^-rw-rw-r-- 0\/0\s+8 1970-01-01 00:00:00 models\/onnx\/model\.onnx$/);
    const { stdout: owners } = await run('tar', ['--list', '--verbose', '-f', tarFile]);
    assert.match(owners, /^-rw-rw-r-- 0\/0 /, 'uname/gname are empty, so tar shows the numbers');
    const out = path.join(work, 'x1');
    await mkdir(out);
    await run('tar', ['-xf', tarFile, '-C', out]);
    assert.deepEqual(await readFile(path.join(out, 'models/onnx/model.onnx')), data);
  });

  it('gives the same digest whatever the file mtime and across runs', async () => {
    const file = await modelFile('tokenizer.json', '{"a":1}');
    const first = await hashTarLayer(file, 'tokenizer.json');
    await utimes(file, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    const second = await hashTarLayer(file, 'tokenizer.json');
    assert.equal(second.digest, first.digest);
    // and a pinned value: the format must not drift silently between versions
    assert.equal((await layerBytes(file, 'tokenizer.json')).bytes.subarray(0, 512).toString('latin1').slice(257, 265), 'ustar  \0');
    assert.notEqual((await hashTarLayer(file, 'other/tokenizer.json')).digest, first.digest, 'the path is part of the layer');
  });

  it('stores paths over 100 bytes (and non-ASCII) in a GNU long-name record that GNU tar and node-tar read', { skip: gnuTar }, async () => {
    const rel = `${'deep-folder-name/'.repeat(12)}modèle-权重.safetensors`;
    assert.ok(Buffer.byteLength(`models/${rel}`) > 200);
    const data = Buffer.from('long\n');
    const file = await modelFile(rel, data);
    const { bytes } = await layerBytes(file, rel);
    assert.equal(bytes.subarray(156, 157).toString(), 'L');
    const tarFile = path.join(work, 'long.tar');
    await writeFile(tarFile, bytes);
    const { stdout } = await run('tar', ['-tf', tarFile]);
    assert.equal(stdout, `models/${rel}\n`);
    const out = path.join(work, 'x2');
    await mkdir(out);
    await run('tar', ['-xf', tarFile, '-C', out]);
    assert.deepEqual(await readFile(path.join(out, 'models', rel)), data);
  });

  it('encodes sizes of 8 GiB and more in base-256, which GNU tar and node-tar read back', { skip: gnuTar }, async () => {
    const size = 8 * 1024 ** 3 + 5;
    const header = encodeTarHeader({ name: 'models/huge.bin', type: 'file', mode: TAR_LAYER_FILE_MODE, size });
    assert.equal(header[124], 0x80, 'binary size marker');
    const parsed = new Header(header);
    assert.equal(parsed.size, size);
    assert.equal(parsed.cksumValid, true);
    assert.equal(parsed.path, 'models/huge.bin');
    assert.equal(parsed.mode, 0o664);
    // GNU tar lists the entry (then reports the missing data, which is not part of this test).
    const tarFile = path.join(work, 'huge-header.tar');
    await writeFile(tarFile, header);
    const listed = spawnSync('tar', ['-tvf', tarFile], { encoding: 'utf8' });
    assert.match(listed.stdout, /\b8589934597\b.*models\/huge\.bin/);
    // Below the limit the size stays octal.
    const small = encodeTarHeader({ name: 'a', type: 'file', mode: 0o664, size: 8 * 1024 ** 3 - 1 });
    assert.equal(small.subarray(124, 136).toString('ascii'), '77777777777\0');
    assert.equal(tarLayerFraming('a', size).size, 512 + size + 507 + 1024); // 5 bytes into the last block: 507 of padding
  });

  it('streams any byte range, and the ranges put together are the whole layer', async () => {
    const data = Buffer.alloc(5000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    const file = await modelFile('ranged.bin', data);
    const { bytes, info } = await layerBytes(file, 'ranged.bin');
    const source = oneFile(file, 'ranged.bin', info);
    for (const [start, end] of [[0, 0], [0, 511], [100, 700], [512, 5511], [5000, bytes.length - 1], [bytes.length - 1, bytes.length - 1]] as const) {
      assert.deepEqual(await collect(openTarLayerStream(source, { start, end })), bytes.subarray(start, end + 1), `range ${start}-${end}`);
    }
    const cuts = [0, 777, 2048, 4999, bytes.length];
    const parts: Buffer[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) parts.push(await collect(openTarLayerStream(source, { start: cuts[i]!, end: cuts[i + 1]! - 1 })));
    assert.deepEqual(Buffer.concat(parts), bytes);
  });

  it('refuses to stream a layer whose model file changed after it was hashed', async () => {
    const file = await modelFile('changing.bin', 'abcdef');
    const info = await hashTarLayer(file, 'changing.bin');
    const source = oneFile(file, 'changing.bin', info);
    await writeFile(file, 'abcdeX'); // same size, other bytes: caught by the digest
    await assert.rejects(collect(openTarLayerStream(source)), (e: Error & { kind?: string }) => e.kind === 'integrity' && /changed after package/.test(e.message));
    await truncate(file, 3); // other size: caught before reading
    await assert.rejects(collect(openTarLayerStream(source)), (e: Error & { kind?: string }) => e.kind === 'integrity' && /3 bytes but 6/.test(e.message));
  });

  it('serves model layers through the layout surface and materializes them as verified blob files', async () => {
    const data = Buffer.from('lazy layer\n');
    const file = await modelFile('lazy/a.bin', data);
    const info = await hashTarLayer(file, 'lazy/a.bin');
    const imageDir = path.join(work, 'image');
    const layout = await new ModelcarLayout(imageDir, path.join(work, 'model'), [{ digest: info.digest, size: info.size, files: [{ path: info.path, fileSize: info.fileSize, fileSha256: info.fileSha256 }] }]).init();
    assert.equal(await layout.blobSize(info.digest), info.size);
    assert.equal(await layout.hasBlob(info.digest, info.size), true);
    assert.equal(await layout.hasBlob('sha256:' + '0'.repeat(64)), false);
    const whole = await collect(layout.readBlobStream(info.digest));
    assert.equal(sha(whole), info.digest);
    assert.deepEqual(await collect(layout.readBlobStream(info.digest, { start: 512, end: 512 + data.length - 1 })), data);
    await assert.rejects(stat(layout.blobPath(info.digest)), 'nothing is written before materialization');

    assert.equal(await layout.materializeModelLayers(), 1);
    assert.equal(sha(await readFile(layout.blobPath(info.digest))), info.digest);
    assert.equal(await layout.materializeModelLayers(), 0, 'a second call writes nothing');

    await rm(layout.blobPath(info.digest));
    await truncate(file, 2);
    assert.equal(await layout.hasBlob(info.digest), false, 'a model file of another size is no blob');
  });

  it('hashes a 64 MiB file (on a worker thread, in 2 MiB reads) to the digests of header + content + trailer and of the content', async () => {
    const file = path.join(work, 'model', 'big.bin');
    await pipeline(
      (async function* () {
        const chunk = Buffer.alloc(1024 * 1024, 7);
        for (let i = 0; i < 64; i++) yield chunk;
      })(),
      createWriteStream(file),
    );
    const info = await hashTarLayer(file, 'big.bin');
    const expected = createHash('sha256').update(tarLayerFraming('big.bin', info.fileSize).header);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < 64; i++) expected.update(chunk);
    expected.update(tarLayerFraming('big.bin', info.fileSize).trailer);
    assert.equal(info.digest, 'sha256:' + expected.digest('hex'));
    const content = createHash('sha256');
    for (let i = 0; i < 64; i++) content.update(chunk);
    assert.equal(info.fileSha256, 'sha256:' + content.digest('hex'));
    assert.equal(info.size, 512 + 64 * 1024 * 1024 + 1024);
  });
  it('gives a one-file layer exactly the digest 0.1.0 gave (pinned), whether hashed alone or as a group of one', async () => {
    const config = await modelFile('pin/config.json', '{"model_type":"pinned"}\n');
    const w = Buffer.alloc(70_000);
    for (let i = 0; i < w.length; i++) w[i] = (i * 31) % 256;
    const weights = await modelFile('pin/nested/model.safetensors', w);
    // Computed with src/oci/tar-layer.ts of 0.1.0 (one layer per file) on the same bytes.
    const pinned = {
      'config.json': 'sha256:6f732ea70fc4ca55e6b4dfe93f6022b6f290b50fbd682e3efdc8c3106baab5cf',
      'nested/model.safetensors': 'sha256:3ee6aa1855a7662654745cdf81b9880b937e4a87d78050b806bd8853d130acab',
    };
    assert.equal((await hashTarLayer(config, 'config.json')).digest, pinned['config.json']);
    const group = await hashTarLayerGroup([{ file: weights, path: 'nested/model.safetensors' }]);
    assert.equal(group.digest, pinned['nested/model.safetensors']);
    assert.equal(group.size, 71680);
    assert.equal(group.files[0]!.fileSha256, sha(w));
    const streamed = await collect(openTarLayerStream({ members: [{ file: weights, path: 'nested/model.safetensors', fileSize: w.length }], digest: group.digest }));
    assert.equal(sha(streamed), pinned['nested/model.safetensors']);
  });

  describe('a layer of several files', () => {
    const members: Array<{ rel: string; data: Buffer }> = [
      { rel: 'a/config.json', data: Buffer.from('{"a":1}\n') },
      { rel: 'a/empty.txt', data: Buffer.alloc(0) },
      { rel: `${'long-folder/'.repeat(10)}tokenizer-词表.json`, data: Buffer.from('x'.repeat(1536)) }, // whole blocks: no padding
      { rel: 'z/weights.bin', data: Buffer.from(Array.from({ length: 3001 }, (_, i) => i % 253)) },
    ];
    let sources: Array<{ file: string; path: string; fileSize: number }>;
    let info: Awaited<ReturnType<typeof hashTarLayerGroup>>;
    let bytes: Buffer;
    before(async () => {
      sources = [];
      for (const m of members) sources.push({ file: await modelFile(`group/${m.rel}`, m.data), path: m.rel, fileSize: m.data.length });
      info = await hashTarLayerGroup(sources);
      bytes = await collect(openTarLayerStream({ members: sources, digest: info.digest }));
    });

    it('is each member (header + file + padding) in order, then two zero blocks; digest, size and per-file sha256 as streamed', () => {
      assert.equal(info.digest, sha(bytes));
      assert.equal(info.size, bytes.length);
      assert.equal(tarLayerSize(sources), bytes.length);
      assert.equal(tarLayerSegments(sources).size, bytes.length);
      assert.deepEqual(info.files.map((f) => [f.path, f.fileSize, f.fileSha256]), members.map((m) => [m.rel, m.data.length, sha(m.data)]));
      const expected = Buffer.concat([
        ...members.flatMap((m) => [encodeTarHeader({ name: `models/${m.rel}`, type: 'file', mode: 0o664, size: m.data.length }), m.data, Buffer.alloc(Math.ceil(m.data.length / 512) * 512 - m.data.length)]),
        Buffer.alloc(1024),
      ]);
      assert.deepEqual(bytes, expected);
    });

    it('depends on member order: the same files in another order are another layer', async () => {
      assert.notEqual((await hashTarLayerGroup([...sources].reverse())).digest, info.digest);
    });

    it('is listed and extracted by GNU tar: every member under models/, 0664, no directory entries', { skip: gnuTar }, async () => {
      const tarFile = path.join(work, 'group.tar');
      await writeFile(tarFile, bytes);
      const { stdout } = await run('tar', ['--list', '--verbose', '--numeric-owner', '-f', tarFile]);
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, members.length, stdout);
      lines.forEach((l, i) => assert.match(l, new RegExp(`^-rw-rw-r-- 0/0 .* models/${members[i]!.rel.replace(/[.]/g, '\\.')}$`)));
      const out = path.join(work, 'xg');
      await mkdir(out);
      await run('tar', ['-xf', tarFile, '-C', out]);
      for (const m of members) assert.deepEqual(await readFile(path.join(out, 'models', m.rel)), m.data, m.rel);
    });

    it('streams any byte range across member boundaries, and the ranges put together are the whole layer', async () => {
      const source = { members: sources, digest: info.digest };
      const cuts = [0, 1, 511, 512, 520, 1023, 1024, 1025, 2000, 3100, 4097, bytes.length - 1025, bytes.length - 1, bytes.length];
      for (let i = 0; i + 1 < cuts.length; i++) {
        for (let j = i + 1; j < cuts.length; j++) {
          assert.deepEqual(await collect(openTarLayerStream(source, { start: cuts[i]!, end: cuts[j]! - 1 })), bytes.subarray(cuts[i], cuts[j]), `range ${cuts[i]}-${cuts[j]! - 1}`);
        }
      }
    });

    it('refuses to stream when a member changed: its size (checked on read) or its bytes (whole reads, by the digest)', async () => {
      const last = sources[sources.length - 1]!;
      const source = { members: sources, digest: info.digest };
      const original = members[members.length - 1]!.data;
      await writeFile(last.file, Buffer.concat([original.subarray(0, 10), Buffer.from('X'), original.subarray(11)]));
      await assert.rejects(collect(openTarLayerStream(source)), (e: Error & { kind?: string }) => e.kind === 'integrity' && /the 4 model files of layer .* one of them changed after package/.test(e.message));
      // a range that stops before the changed member is still served
      assert.deepEqual(await collect(openTarLayerStream(source, { start: 0, end: 600 })), bytes.subarray(0, 601));
      await truncate(last.file, 5);
      await assert.rejects(collect(openTarLayerStream(source, { start: bytes.length - 2000, end: bytes.length - 1 })), (e: Error & { kind?: string }) => e.kind === 'integrity' && /has 5 bytes but 3001/.test(e.message));
      await writeFile(last.file, original);
    });

    it('serves a group layer through the layout and counts it absent when any member has another size', async () => {
      const layout = await new ModelcarLayout(path.join(work, 'image-group'), path.join(work, 'model', 'group'), [
        { digest: info.digest, size: info.size, files: info.files },
      ]).init();
      assert.equal(await layout.blobSize(info.digest), info.size);
      assert.equal(sha(await collect(layout.readBlobStream(info.digest))), info.digest);
      await writeFile(sources[0]!.file, '{"a":12}\n');
      assert.equal(await layout.hasBlob(info.digest), false);
      await writeFile(sources[0]!.file, members[0]!.data);
      assert.equal(await layout.hasBlob(info.digest, info.size), true);
    });
  });

  it('hashes a group with a 64 MiB member (its sha256 on the worker thread) and small ones around it', async () => {
    const big = path.join(work, 'model', 'big.bin'); // written by the 64 MiB test above
    const small = await modelFile('aa-small.txt', 'small\n');
    const tail = await modelFile('zz-small.txt', 'tail\n');
    const single = await hashTarLayer(big, 'big.bin');
    const group = await hashTarLayerGroup([{ file: small, path: 'aa-small.txt' }, { file: big, path: 'big.bin' }, { file: tail, path: 'zz-small.txt' }]);
    assert.equal(group.files[1]!.fileSha256, single.fileSha256);
    assert.deepEqual(group.files.map((f) => f.fileSize), [6, 64 * 1024 * 1024, 5]);
    const streamed = createHash('sha256');
    for await (const c of openTarLayerStream({ members: group.files.map((f, i) => ({ ...f, file: [small, big, tail][i]! })), digest: group.digest }) as AsyncIterable<Buffer>) streamed.update(c);
    assert.equal('sha256:' + streamed.digest('hex'), group.digest);
  });
});
