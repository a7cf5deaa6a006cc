// streamLayerToRegistry (src/oci/stream-layer.ts) against a real docker-registry, with
// test/support/fault-proxy.ts in front where a fault is needed: the streamed layer has package's
// digest and bytes, a member of the wrong size leaves nothing behind, a failed chunk and an
// abandoned call both continue at the registry's offset without sending a byte twice, and a
// monolithic-only registry gets one hash pass and one PUT.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { hashTarLayerGroup } from '../src/oci/layer-hasher.js';
import { parseImageReference } from '../src/oci/reference.js';
import { RegistryClient } from '../src/oci/registry-client.js';
import { streamLayerToRegistry } from '../src/oci/stream-layer.js';
import { openTarLayerStream } from '../src/oci/tar-layer.js';
import { RegistryTarget } from '../src/oci/target-registry.js';
import { UploadSessions } from '../src/oci/upload-sessions.js';
import type { StreamFile } from '../src/util/stream-file.js';
import { Workspace } from '../src/workspace/workspace.js';
import { readRecord } from '../src/workspace/records.js';
import { tempDir } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { memoryLogger } from './support/oci-images.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';
const quick = { attempts: 3, baseDelayMs: 10 };
const CHUNK = 100_000;

/** A model file read from disk, as a streaming source would hand it over. */
function fileMember(file: string, relPath: string, size: number): StreamFile {
  return { path: relPath, size, open: async (start) => createReadStream(file, { start }) };
}

/** A member whose source sends `actual` bytes although it listed `size`. */
function lyingMember(relPath: string, size: number, actual: number): StreamFile {
  return { path: relPath, size, open: async () => Readable.from([randomBytes(actual)]) };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('streamLayerToRegistry against docker-registry', { skip }, () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  let files: Array<{ file: string; path: string; data: Buffer }>;
  const targets: RegistryTarget[] = [];

  const target = (repository: string, via: 'direct' | 'proxy' = 'direct', extra: { monolithicOnly?: boolean; attempts?: number } = {}) => {
    const host = via === 'proxy' ? new URL(proxy.url).host : registry.host;
    const t = new RegistryTarget(parseImageReference(`${host}/${repository}:v1`), {
      tlsVerify: true,
      log: memoryLogger().log,
      push: true,
      operation: 'push',
      retry: { ...quick, ...(extra.attempts ? { attempts: extra.attempts } : {}) },
      monolithicOnly: extra.monolithicOnly,
    });
    targets.push(t);
    return t;
  };
  const members = (chosen: typeof files) => chosen.map((f) => fileMember(f.file, f.path, f.data.length));
  const expected = async (chosen: typeof files) => {
    const hashed = await hashTarLayerGroup(chosen.map((f) => ({ file: f.file, path: f.path })));
    const bytes = await readAll(openTarLayerStream({ digest: hashed.digest, members: chosen.map((f) => ({ file: f.file, path: f.path, fileSize: f.data.length })) }));
    return { ...hashed, bytes };
  };
  const pulled = async (repository: string, digest: string) => {
    const client = new RegistryClient(parseImageReference(`${registry.host}/${repository}`), { tlsVerify: true, log: memoryLogger().log });
    try {
      return await readAll((await client.openBlob(repository, digest)).stream);
    } finally {
      client.close();
    }
  };
  /** The status of an upload session's Location, asked straight from the registry. */
  const sessionStatus = async (url: string) => (await fetch(new URL(url, registry.url))).status;
  const blobCount = async () => {
    const root = path.join(registry.storageDir, 'docker/registry/v2/blobs/sha256');
    let n = 0;
    for (const dir of await readdir(root).catch(() => [])) n += (await readdir(path.join(root, dir))).length;
    return n;
  };

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    proxy = await startFaultProxy(registry.url);
    work = await tempDir('ms-stream-layer-');
    const long = `${'deep/'.repeat(22)}weights-with-a-long-name.safetensors`; // over 100 bytes as models/<path>
    assert.ok(Buffer.byteLength(`models/${long}`) > 100);
    files = [];
    for (const [rel, size] of [['config.json', 1_234], [long, 250_001], ['empty.txt', 0], ['model.bin', 345_678]] as const) {
      const file = path.join(work, 'model', rel);
      await mkdir(path.dirname(file), { recursive: true });
      const data = randomBytes(size);
      await writeFile(file, data);
      files.push({ file, path: rel, data });
    }
  });
  after(async () => {
    for (const t of targets) t.close();
    await proxy?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const [name, pick] of [
    ['a one-file layer', () => [files[3]!]],
    ['a multi-file layer (a path over 100 bytes, an empty file)', () => files],
  ] as const) {
    it(`streams ${name} in chunks with package's digest and bytes, and each file's sha256`, async () => {
      const chosen = pick();
      const want = await expected(chosen);
      const repository = `stream/${chosen.length}`;
      let counted = 0;
      const r = await streamLayerToRegistry(members(chosen), { target: target(repository), chunkSize: CHUNK, onBytes: (n) => (counted += n), log: memoryLogger().log });
      assert.equal(r.mode, 'chunked');
      assert.equal(r.digest, want.digest);
      assert.equal(r.size, want.size);
      assert.deepEqual(
        r.files,
        chosen.map((f) => ({ path: f.path, fileSize: f.data.length, fileSha256: 'sha256:' + createHash('sha256').update(f.data).digest('hex') })),
      );
      assert.deepEqual(r.files, want.files.map((f) => ({ path: f.path, fileSize: f.fileSize, fileSha256: f.fileSha256 })));
      assert.equal(r.bytesSent, want.size);
      assert.equal(counted, want.size);
      assert.equal(r.resumedAt, 0);
      assert.ok((await pulled(repository, r.digest)).equals(want.bytes), 'the registry holds the layer bytes package makes');
    });
  }

  for (const [name, actual] of [
    ['fewer', 1_000],
    ['more', 3_000],
  ] as const) {
    it(`fails as integrity when a member yields ${name} bytes than its size, leaving no blob and no session`, async () => {
      const repository = `stream/wrong-${name}`;
      const blobsBefore = await blobCount();
      proxy.requests.length = 0;
      const sessions = await UploadSessions.load(await new Workspace(path.join(work, `ws-wrong-${name}`)).init());
      await assert.rejects(
        streamLayerToRegistry([fileMember(files[0]!.file, files[0]!.path, files[0]!.data.length), lyingMember('bad.bin', 2_000, actual)], {
          target: target(repository, 'proxy'),
          chunkSize: 1_000,
          sessions,
          sessionKey: 'wrong',
          log: memoryLogger().log,
        }),
        (err: Error & { kind?: string }) => {
          assert.equal(err.kind, 'integrity', err.message);
          assert.match(err.message, /model file bad\.bin gave (1000|more than 2000) bytes, but its source listed 2000/);
          return true;
        },
      );
      assert.equal(await blobCount(), blobsBefore, 'no blob was stored');
      // The session is cancelled (DELETE). When the broken-off PATCH left bytes behind,
      // distribution 2.8 refuses the DELETE but treats the session as invalid from then on (its
      // folder stays until the registry purges it): either way no client can use it any more.
      const last = proxy.requests.filter((q) => q.method === 'PATCH').at(-1)!;
      assert.ok(proxy.requests.some((q) => q.method === 'DELETE' && q.path === last.path), 'the session was deleted');
      assert.equal(await sessionStatus(last.url), 404, 'the upload session is gone');
      assert.equal(sessions.get('wrong'), undefined, 'and dropped from the record');
    });
  }

  it('resumes after a failed chunk at the registry offset: no byte reaches the registry twice', async () => {
    const want = await expected(files);
    proxy.requests.length = 0;
    proxy.rules.push({ method: 'PATCH', skip: 2, status: 503 }); // the third chunk never reaches the registry
    let counted = 0;
    const r = await streamLayerToRegistry(members(files), { target: target('stream/chunk-fault', 'proxy'), chunkSize: CHUNK, onBytes: (n) => (counted += n), log: memoryLogger().log });
    assert.equal(r.digest, want.digest);
    assert.equal(r.resumedAt, 2 * CHUNK, 'the attempt after the fault continued at the offset the registry reported');
    const patches = proxy.requests.filter((q) => q.method === 'PATCH');
    assert.equal(patches.filter((q) => q.fault).length, 1);
    const forwarded = patches.filter((q) => !q.fault);
    assert.equal(forwarded.reduce((n, q) => n + q.requestBytes, 0), want.size, 'every layer byte reached the registry once');
    assert.equal(new Set(forwarded.map((q) => q.headers['content-range'])).size, forwarded.length, 'no chunk was sent twice');
    assert.equal(r.bytesSent, want.size);
    assert.equal(counted, want.size, 'onBytes took back the failed chunk');
    assert.ok(proxy.requests.some((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/')), 'the registry was asked for its offset');
    assert.equal(proxy.requests.filter((q) => q.method === 'POST').length, 1, 'one session');
    assert.ok((await pulled('stream/chunk-fault', r.digest)).equals(want.bytes));
  });

  it('continues a session a call left recorded (resumedAt > 0, only the rest is sent); an entry of another repository is ignored', async () => {
    const want = await expected(files);
    const ws = await new Workspace(path.join(work, 'ws-resume')).init();
    const sessions = await UploadSessions.load(ws);
    const key = 'layer:all-files';
    proxy.requests.length = 0;
    proxy.rules.push({ method: 'PATCH', skip: 2, status: 503, times: Infinity });
    try {
      await assert.rejects(streamLayerToRegistry(members(files), { target: target('stream/resume', 'proxy', { attempts: 2 }), chunkSize: CHUNK, sessions, sessionKey: key, log: memoryLogger().log }), /503/);
    } finally {
      proxy.rules.length = 0;
    }
    const recorded = (await readRecord(ws, 'oci-uploads'))?.sessions[key];
    assert.equal(recorded?.offset, 2 * CHUNK, 'the record holds the offset after the last chunk');
    assert.equal(recorded?.size, want.size);

    // The same key for another repository does not continue that session.
    const other = await streamLayerToRegistry(members([files[0]!]), { target: target('stream/other', 'proxy'), sessions: await UploadSessions.load(ws), sessionKey: key, log: memoryLogger().log });
    assert.equal(other.resumedAt, 0);

    proxy.requests.length = 0;
    // The other repository's upload took the key over (and dropped it when done): a new run, with
    // the entry as the first call left it.
    const again = await UploadSessions.load(ws);
    await again.set(key, recorded!);
    const r = await streamLayerToRegistry(members(files), { target: target('stream/resume', 'proxy'), chunkSize: CHUNK, sessions: again, sessionKey: key, log: memoryLogger().log });
    assert.equal(r.digest, want.digest);
    assert.equal(r.resumedAt, 2 * CHUNK);
    assert.equal(r.bytesSent, want.size - 2 * CHUNK);
    assert.equal(proxy.requests.filter((q) => q.method === 'POST').length, 0, 'no new session');
    assert.equal(proxy.requests.filter((q) => q.method === 'PATCH').reduce((n, q) => n + q.requestBytes, 0), want.size - 2 * CHUNK);
    assert.equal((await readRecord(ws, 'oci-uploads'))?.sessions[key], undefined, 'the entry is dropped once the blob is stored');
    assert.ok((await pulled('stream/resume', r.digest)).equals(want.bytes));
  });

  it('on a monolithic-only registry hashes first, then uploads in one PUT, and says so once at info', async () => {
    const want = await expected(files);
    const logger = memoryLogger();
    proxy.requests.length = 0;
    let opened = 0;
    const counting = members(files).map((m) => ({ ...m, open: (start: number) => (opened++, m.open(start)) }));
    const r = await streamLayerToRegistry(counting, { target: target('stream/monolithic', 'proxy', { monolithicOnly: true }), log: logger.log });
    assert.equal(r.mode, 'hash-then-put');
    assert.equal(r.digest, want.digest);
    assert.equal(r.bytesSent, want.size);
    assert.equal(opened, 2 * files.length, 'two reads of every member');
    assert.equal(proxy.requests.filter((q) => q.method === 'PATCH').length, 0);
    const puts = proxy.requests.filter((q) => q.method === 'PUT');
    assert.equal(puts.length, 1);
    assert.equal(puts[0]!.requestBytes, want.size);
    assert.ok(puts[0]!.url.includes(`digest=${encodeURIComponent(want.digest)}`) || puts[0]!.url.includes(`digest=${want.digest}`));
    const lines = logger.lines.filter((l) => l.level === 'info' && /monolithic uploads only/.test(l.msg));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!.msg, new RegExp(`^registry ${new URL(proxy.url).host.replace('.', '\\.')} takes monolithic uploads only`));
    assert.ok((await pulled('stream/monolithic', r.digest)).equals(want.bytes));
  });

  it('reads its record of another format as absent', async () => {
    const ws = await new Workspace(path.join(work, 'ws-format')).init();
    await writeFile(path.join(ws.stateDir, 'oci-uploads.json'), JSON.stringify({ format: 99, sessions: { k: { location: 'x' } } }));
    assert.equal((await UploadSessions.load(ws)).get('k'), undefined);
    assert.ok((await readFile(path.join(ws.stateDir, 'oci-uploads.json'), 'utf8')).includes('99'));
  });
});
