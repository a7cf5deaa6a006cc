// Hostile inputs to fetch, through the built CLI and real local servers: link chains that escape
// model/ when followed by the kernel (tar, zip, modelcar and ModelPack layers), archives that
// expand past the limits or lie about their sizes, names that are a file and a folder at once, a
// NUL in a pax path, and names longer than the file system allows (archive entry, S3 key).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { lstat, readdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { EXIT } from '../src/errors.js';
import { OciLayout } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { runCli, tempDir } from '../dev/cli.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { tar, zip, type TarEntry } from './support/archives.js';
import { tarball, writeImage, type TarEntry as LayerEntry } from './support/oci-images.js';
import { readInventory } from './support/fetch-helpers.js';

let web: TestHttpServer;
let work: string;

before(async () => {
  web = await startHttpServer();
  work = await tempDir('ms-fetch-hardening-');
});

after(async () => {
  await web?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

let wsCount = 0;
function storage(): string {
  return path.join(work, `ws${++wsCount}`, 'ws');
}

function fetchUri(ws: string, uri: string, extra: Record<string, string> = {}) {
  return runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: uri, ...extra });
}

function serve(name: string, body: Buffer): string {
  web.routes.set(`/hardening/${name}`, { body });
  return `${web.url}/hardening/${name}`;
}

/** Every symbolic link under model/ that, followed by the kernel, leads outside model/. */
async function linksLeavingModel(ws: string): Promise<string[]> {
  const model = path.join(ws, 'model');
  const realModel = await realpath(model).catch(() => model);
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) {
        const real = await realpath(p).catch(() => undefined);
        if (real !== undefined && path.relative(realModel, real).startsWith('..')) out.push(path.relative(model, p));
      } else if (e.isDirectory()) await walk(p);
    }
  };
  await walk(model);
  return out;
}

async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out;
}

// d1/…/d12/L -> ../ x11 (model/d1: inside, both as text and on disk). Followed by the kernel,
// "d1/…/d12/L/.." is model/ and not d1/…/d12, so eleven more ".." climb to /.
const DEEP = Array.from({ length: 12 }, (_, i) => `d${i + 1}`).join('/');
const UP11 = Array(11).fill('..').join('/');
type LinkSpec = { name: string; target: string } | { name: string; body: string };
const CHAINS: Record<string, LinkSpec[]> = {
  // y reads as d1/d2/etc/hostname (a harmless decoy file), but the kernel reads /etc/hostname.
  'chain-to-file': [
    { name: 'd1/d2/etc/hostname', body: 'decoy\n' },
    { name: `${DEEP}/L`, target: UP11 },
    { name: 'y', target: `${DEEP}/L/${UP11}/etc/hostname` },
  ],
  // root reads as model/d1 but is /; files are then reached through it.
  'chain-to-root': [
    { name: `${DEEP}/L`, target: UP11 },
    { name: 'root', target: `${DEEP}/L/${UP11}` },
    { name: 'leak', target: 'root/etc/hostname' },
  ],
};

const asTar = (specs: LinkSpec[], prefix = ''): TarEntry[] =>
  specs.map((s) => ('target' in s ? { name: prefix + s.name, type: '2' as const, linkname: s.target } : { name: prefix + s.name, body: s.body }));
const asLayer = (specs: LinkSpec[], prefix = ''): LayerEntry[] =>
  specs.map((s) => ('target' in s ? { name: prefix + s.name, type: 'symlink' as const, linkname: s.target } : { name: prefix + s.name, data: s.body }));

async function assertChainRefused(ws: string, r: { code: number; stderr: string; termination: string }, label: string): Promise<void> {
  assert.equal(r.code, EXIT.unsafe, `${label}: ${r.stderr}`);
  assert.equal(r.termination.split('\n').length, 1, r.termination);
  assert.match(r.termination, /^refusing .*entry "[^"]*(y|root)": its link target .* (climbs with "\.\." out of a link|leaves the workspace)/, `${label}: ${r.termination}`);
  assert.deepEqual(await linksLeavingModel(ws), [], `${label}: no link in model/ leads outside it`);
}

test('link chains that the kernel would follow out of model/ are refused in tar and zip archives (exit 6)', async () => {
  for (const [name, specs] of Object.entries(CHAINS)) {
    const tarWs = storage();
    await assertChainRefused(tarWs, await fetchUri(tarWs, serve(`${name}.tar`, tar(asTar(specs)))), `${name}.tar`);

    const zipWs = storage();
    const zipped = zip(specs.map((s) => ('target' in s ? { name: s.name, body: s.target, mode: 0o120777 } : { name: s.name, body: s.body })));
    await assertChainRefused(zipWs, await fetchUri(zipWs, serve(`${name}.zip`, zipped)), `${name}.zip`);
  }
});

test('link chains are refused in modelcar and ModelPack layers (exit 6)', async () => {
  for (const [name, specs] of Object.entries(CHAINS)) {
    const modelcar = new OciLayout(path.join(work, `modelcar-${name}`));
    await writeImage(modelcar, { layers: [{ data: tarball([{ name: 'models/ok.txt', data: 'fine' }, ...asLayer(specs, 'models/')]) }] });
    const ws1 = storage();
    const r1 = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', `oci:${modelcar.dir}:latest`, '--storage-path', ws1]);
    await assertChainRefused(ws1, r1, `modelcar ${name}`);

    const modelpack = new OciLayout(path.join(work, `modelpack-${name}`));
    await writeImage(modelpack, {
      artifactType: MT.modelpackManifestArtifact,
      configMediaType: MT.modelpackConfig,
      config: { descriptor: { name: 'm' }, config: {}, modelfs: { type: 'layers', diffIds: [] } },
      layers: [{ data: tarball(asLayer(specs)), mediaType: 'application/vnd.cncf.model.doc.v1.tar' }],
    });
    const ws2 = storage();
    const r2 = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', `oci:${modelpack.dir}:latest`, '--storage-path', ws2]);
    await assertChainRefused(ws2, r2, `modelpack ${name}`);
  }
});

test('links that stay inside model/ through other links still work and are listed as their files', async () => {
  const weights = randomBytes(4096);
  const ok = storage();
  const r2 = await fetchUri(
    ok,
    serve(
      'inner-links-ok.tar',
      tar([
        { name: 'weights/w.bin', body: weights },
        { name: 'weights/sub/', type: '5' },
        { name: 'alias', type: '2', linkname: 'weights' },
        { name: 'latest.bin', type: '2', linkname: 'alias/w.bin' },
        { name: 'weights/sub/up.bin', type: '2', linkname: '../w.bin' },
        { name: 'back.bin', type: '2', linkname: 'weights/sub/../w.bin' },
      ]),
    ),
  );
  assert.equal(r2.code, 0, r2.stderr);
  const inv = await readInventory(ok);
  assert.deepEqual(inv.files.map((f) => f.path), ['back.bin', 'latest.bin', 'weights/sub/up.bin', 'weights/w.bin']);
  assert.ok(inv.files.every((f) => f.size === weights.length));
});

test('archives that expand past --archive-max-ratio or --archive-max-bytes are refused (exit 6) naming the entry and the setting', async () => {
  const zeros = Buffer.alloc(64 * 1024 * 1024); // deflates to about 64 KiB: a 1000x bomb
  const cases: Array<[string, Buffer, Record<string, string>, RegExp]> = [
    ['bomb.zip', zip([{ name: 'zeros.bin', body: zeros, deflate: true }]), {}, /entry "zeros\.bin": the archive unpacks to more than 100 times its \d+ bytes \(--archive-max-ratio \/ MODEL_SYNC_ARCHIVE_MAX_RATIO\)/],
    ['bomb.tar.gz', gzipSync(tar([{ name: 'zeros.bin', body: zeros }])), {}, /entry "zeros\.bin": the archive unpacks to more than 100 times/],
    ['big.tar', tar([{ name: 'ok.bin', body: randomBytes(50_000) }, { name: 'big.bin', body: randomBytes(200_000) }]), { MODEL_SYNC_ARCHIVE_MAX_BYTES: '100000' }, /entry "big\.bin": the archive unpacks to more than 100000 bytes \(--archive-max-bytes \/ MODEL_SYNC_ARCHIVE_MAX_BYTES\)/],
    ['big.zip', zip([{ name: 'big.bin', body: randomBytes(200_000), deflate: true }]), { MODEL_SYNC_ARCHIVE_MAX_BYTES: '100000' }, /entry "big\.bin": the archive unpacks to more than 100000 bytes/],
  ];
  for (const [name, body, extra, pattern] of cases) {
    const ws = storage();
    const r = await fetchUri(ws, serve(name, body), extra);
    assert.equal(r.code, EXIT.unsafe, `${name}: ${r.stderr}`);
    assert.match(r.termination, pattern, name);
    assert.equal(r.termination.split('\n').length, 1);
    assert.ok(!(await filesIn(path.join(ws, 'model'))).some((f) => f.endsWith('zeros.bin') || f.endsWith('big.bin')), `${name}: nothing of it in model/`);
    assert.deepEqual(await filesIn(path.join(ws, '.model-sync/tmp')), [], `${name}: no temp file left`);
  }
  // The same limit for image layers.
  const layout = new OciLayout(path.join(work, 'big-layer'));
  await writeImage(layout, { layers: [{ data: gzipSync(tarball([{ name: 'models/zeros.bin', data: zeros.subarray(0, 8 * 1024 * 1024) }])), mediaType: MT.ociLayerTarGzip }] });
  const ws = storage();
  const r = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', `oci:${layout.dir}:latest`, '--storage-path', ws, '--archive-max-ratio', '10']);
  assert.equal(r.code, EXIT.unsafe, r.stderr);
  assert.match(r.termination, /entry "models\/zeros\.bin": the archive unpacks to more than 10 times/);

  const zero = await fetchUri(storage(), `${web.url}/hardening/big.tar`, { MODEL_SYNC_ARCHIVE_MAX_RATIO: '0' });
  assert.equal(zero.code, EXIT.config, zero.stderr);
  assert.match(zero.termination, /--archive-max-ratio \/ MODEL_SYNC_ARCHIVE_MAX_RATIO/);
});

test('entries a layer skips count as their bytes flow: a large base file before the model files is no bomb', async () => {
  const layout = new OciLayout(path.join(work, 'big-base'));
  const weights = randomBytes(1000);
  await writeImage(layout, { layers: [{ data: tarball([{ name: 'bin/big', data: randomBytes(10 * 1024 * 1024) }, { name: 'models/w.bin', data: weights }]) }] });
  const ws = storage();
  const r = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', `oci:${layout.dir}:latest`, '--storage-path', ws]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await readInventory(ws)).files.map((f) => f.path), ['w.bin']);
});

test('a zip entry that lies about its uncompressed size fails with exit 7 naming the entry, not a crash', async () => {
  const data = randomBytes(100_000);
  for (const [name, declaredSize] of [['fewer.zip', 10], ['more.zip', 200_000]] as const) {
    const ws = storage();
    const r = await fetchUri(ws, serve(name, zip([{ name: 'w.bin', body: data, deflate: true, declaredSize }])));
    assert.equal(r.code, EXIT.integrity, `${name}: ${r.stderr}`);
    assert.equal(r.termination.split('\n').length, 1, r.termination);
    assert.match(r.termination, /^archive http:.*\/hardening\/.*\.zip entry "w\.bin": .*bytes/, r.termination);
    assert.deepEqual(await filesIn(path.join(ws, 'model')), []);
  }
});

test('a name that is a file and a folder at once is refused (exit 6) naming the entry', async () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['file-then-child.tar', tar([{ name: 'a', body: 'x' }, { name: 'a/b', body: 'y' }]), /entry "a\/b": "a" on its path is a file, not a folder/],
    ['child-then-file.tar', tar([{ name: 'a/b', body: 'y' }, { name: 'a', body: 'x' }]), /entry "a": model\/a is already a folder/],
    ['file-then-folder.tar', tar([{ name: 'a', body: 'x' }, { name: 'a/', type: '5' }]), /entry "a\/": model\/a is already a file/],
    ['folder-then-link.tar', tar([{ name: 'a/b', body: 'y' }, { name: 'a', type: '2', linkname: 'a/b' }]), /entry "a": model\/a is already a folder/],
    ['file-then-child.zip', zip([{ name: 'a', body: 'x' }, { name: 'a/b', body: 'y' }]), /entry "a\/b": "a" on its path is a file, not a folder/],
    ['child-then-file.zip', zip([{ name: 'a/b', body: 'y' }, { name: 'a', body: 'x' }]), /entry "a": model\/a is already a folder/],
  ];
  for (const [name, body, pattern] of cases) {
    const r = await fetchUri(storage(), serve(name, body));
    assert.equal(r.code, EXIT.unsafe, `${name}: ${r.stderr}`);
    assert.match(r.termination, pattern, name);
  }
});

test('a NUL in a pax path is refused, not cut short; names over 255 bytes are refused (exit 6)', async () => {
  const nul = storage();
  const r = await fetchUri(nul, serve('pax-nul.tar', tar([{ name: 'evil.bin', pax: { path: 'evil.bin\0.txt' }, body: 'x' }])));
  assert.equal(r.code, EXIT.unsafe, r.stderr);
  assert.match(r.termination, /^refusing archive .* entry "evil\.bin\\0\.txt": its name in an extended header holds a NUL byte/);
  assert.deepEqual(await filesIn(path.join(nul, 'model')), [], 'no file under the cut name');

  const nulLink = await fetchUri(storage(), serve('pax-nul-link.tar', tar([{ name: 'f', body: 'x' }, { name: 'l', type: '2', linkname: 'f', pax: { linkpath: 'f\0../../x' } }])));
  assert.equal(nulLink.code, EXIT.unsafe, nulLink.stderr);
  assert.match(nulLink.termination, /entry "f\\0\.\.\/\.\.\/x": its name in an extended header holds a NUL byte/);

  const long = 'n'.repeat(300);
  const tooLong = await fetchUri(storage(), serve('long-name.tar', tar([{ name: 'short', pax: { path: `dir/${long}` }, body: 'x' }])));
  assert.equal(tooLong.code, EXIT.unsafe, tooLong.stderr);
  assert.match(tooLong.termination, /entry "dir\/n{300}": its name "n{40}…" is longer than 255 bytes/);
});

test('an S3 key with a name over 255 bytes is refused (exit 6) naming the key, before any download', async () => {
  // The small HTTP server answers as an S3 endpoint would (path-style ListObjectsV2 and GetObject).
  const key = `source/${'k'.repeat(300)}`;
  const listing = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>models</Name><Prefix>source/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>${key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;0&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`;
  web.routes.set('/models/', { body: listing, contentType: 'application/xml' });
  web.routes.set(`/models/${key}`, { body: 'x' });
  const ws = storage();
  const r = await runCli(['fetch'], {
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_SOURCE_TYPE: 's3',
    MODEL_SYNC_SOURCE_AWS_BUCKET: 'models',
    MODEL_SYNC_SOURCE_AWS_KEY: 'source',
    MODEL_SYNC_SOURCE_AWS_ENDPOINT: web.url,
    MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: 'AKIATEST',
    MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: 'secret',
  });
  assert.equal(r.code, EXIT.unsafe, r.stderr);
  assert.match(r.termination, new RegExp(`^refusing S3 object s3://models/${key}: its name "k{40}…" is longer than 255 bytes`));
  assert.ok(!web.requests.some((q) => q.path === `/models/${key}`), 'nothing was downloaded');
  await assert.rejects(lstat(path.join(ws, 'model', 'k'.repeat(300))));
});
