// Push resume after kill -9 (issue 14 item 4), against a real docker-registry (distribution 2.8):
// a child process pushes an image layout through the library with small chunks and its sessions
// recorded in a workspace (oci-uploads.json), is killed with SIGKILL mid-way, and the push runs
// again from the same workspace. Measured: what the re-run sends again for one large blob (killed
// while the registry held exactly the recorded offset, and killed mid-PATCH) and for a multi-file
// model (finished blobs skipped). Also pushLayout's presentInDestination.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { OciLayout } from '../src/oci/layout.js';
import { pushLayout } from '../src/oci/transfer.js';
import type { Descriptor } from '../src/oci/types.js';
import { blobSessionKey, UploadSessions } from '../src/oci/upload-sessions.js';
import { Shutdown } from '../src/util/shutdown.js';
import { readRecord } from '../src/workspace/records.js';
import { Workspace } from '../src/workspace/workspace.js';
import { tempDir } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { memoryLogger, writeImage } from './support/oci-images.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';
const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');
const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const quick = { attempts: 3, baseDelayMs: 10 };

/** The child: pushLayout with test-size chunks and the workspace's UploadSessions, then its result on stdout. */
const CHILD = `
import { OciLayout } from ${JSON.stringify(pathToFileURL(path.join(src, 'oci/layout.ts')).href)};
import { pushLayout } from ${JSON.stringify(pathToFileURL(path.join(src, 'oci/transfer.ts')).href)};
import { UploadSessions } from ${JSON.stringify(pathToFileURL(path.join(src, 'oci/upload-sessions.ts')).href)};
import { Workspace } from ${JSON.stringify(pathToFileURL(path.join(src, 'workspace/workspace.ts')).href)};
import { createLogger } from ${JSON.stringify(pathToFileURL(path.join(src, 'log.ts')).href)};
const [layoutDir, storage, reference, chunk, root] = process.argv.slice(2);
const sessions = await UploadSessions.load(await new Workspace(storage).init());
const r = await pushLayout({ layout: new OciLayout(layoutDir), root: JSON.parse(root), reference, tlsVerify: true, concurrency: 1,
  log: createLogger({ level: 'warn', format: 'json' }), chunkThreshold: 1024 * 1024, chunkSize: Number(chunk), sessions, retry: { attempts: 3, baseDelayMs: 10 } });
process.stdout.write(JSON.stringify(r));
`;

describe('push resume after kill -9 (docker-registry)', { skip }, () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  let childScript: string;

  before(async () => {
    registry = await startRegistry({ mode: 'plain' });
    proxy = await startFaultProxy(registry.url);
    work = await tempDir('ms-push-resume-');
    childScript = path.join(work, 'push-child.mts');
    await writeFile(childScript, CHILD);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const startChild = (layout: OciLayout, storage: string, reference: string, root: Descriptor): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', childScript, layout.dir, storage, reference, String(CHUNK), JSON.stringify(root)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.dirname(src) });

  /** Polls until `ready` holds, then kills the child with SIGKILL; fails when the child ends first. */
  const killWhen = async (child: ChildProcess, ready: () => Promise<boolean>) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let done = false;
    void exited.then(() => (done = true));
    while (!done && !(await ready())) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(!done, `the child finished before it could be killed: ${stderr}`);
    child.kill('SIGKILL');
    await exited;
  };
  const recorded = async (storage: string) => Object.values((await readRecord(new Workspace(storage), 'oci-uploads').catch(() => undefined))?.sessions ?? {});
  const rerun = (layout: OciLayout, storage: string, reference: string, root: Descriptor, log = memoryLogger().log) =>
    UploadSessions.load(new Workspace(storage)).then((sessions) => pushLayout({ layout, root, reference, tlsVerify: true, concurrency: 1, log, chunkThreshold: MiB, chunkSize: CHUNK, sessions, retry: quick }));
  const blobFiles = async () => {
    const root = path.join(registry.storageDir, 'docker/registry/v2/blobs/sha256');
    let n = 0;
    for (const dir of await readdir(root).catch(() => [])) n += (await readdir(path.join(root, dir))).length;
    return n;
  };

  const SIZE = 64 * MiB + 12_345;
  let big: { layout: OciLayout; root: Descriptor; layer: Buffer };
  before(async () => {
    const layout = new OciLayout(path.join(work, 'big'));
    const layer = randomBytes(SIZE);
    big = { layout, layer, root: await writeImage(layout, { layers: [{ data: layer }] }) };
  });

  it('continues one large blob at the recorded offset when the registry holds exactly that offset (the in-flight chunk never reached it)', async (t) => {
    const storage = path.join(work, 'ws-held');
    const reference = `${new URL(proxy.url).host}/resume/held:v1`;
    const K = 5; // chunks the registry took before the kill
    proxy.requests.length = 0;
    // Chunk K+1 is held at the proxy and never forwarded: the kill lands while it is in flight.
    proxy.rules.push({ method: 'PATCH', skip: K, status: 503, delayMs: 3_000 });
    await killWhen(startChild(big.layout, storage, reference, big.root), async () => proxy.requests.some((q) => q.method === 'PATCH' && q.fault));
    const left = await recorded(storage);
    assert.equal(left.length, 1, 'the killed run left its session recorded');
    assert.equal(left[0]!.offset, K * CHUNK);
    proxy.requests.length = 0;
    const r = await rerun(big.layout, storage, reference, big.root);
    assert.equal(r.digest, big.root.digest);
    const patched = proxy.requests.filter((q) => q.method === 'PATCH').reduce((n, q) => n + q.requestBytes, 0);
    assert.equal(patched, SIZE - K * CHUNK, 'the re-run sent only the bytes after the recorded offset');
    assert.equal(proxy.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/blobs/uploads/')).length, 0, 'in the same session');
    assert.equal(r.bytesUploaded, SIZE - K * CHUNK);
    assert.deepEqual(await recorded(storage), [], 'the entry is dropped once the blob is stored');
    t.diagnostic(`held offset: blob ${SIZE} bytes, killed at ${K * CHUNK}, re-run sent ${r.bytesUploaded} (${((100 * r.bytesUploaded) / SIZE).toFixed(1)}%)`);
  });

  it('drops the entry of a blob the registry holds by now (a run killed between its last PUT and the record)', async () => {
    const storage = path.join(work, 'ws-stale');
    const sessions = await UploadSessions.load(await new Workspace(storage).init());
    const layer = (JSON.parse((await big.layout.readBlob(big.root.digest)).toString()) as { layers: Descriptor[] }).layers[0]!;
    await sessions.set(blobSessionKey(layer.digest), { registry: registry.host, repository: 'resume/held', location: `${registry.url}/v2/resume/held/blobs/uploads/gone`, size: SIZE, digest: layer.digest, offset: CHUNK, updated: new Date().toISOString() });
    const r = await rerun(big.layout, storage, `${registry.host}/resume/held:v1`, big.root);
    assert.equal(r.blobsUploaded, 0);
    assert.deepEqual(await recorded(storage), []);
  });

  it('measures a kill mid-PATCH straight to the registry: the re-run either continues the session or, when distribution cancelled it, sends the blob again', async (t) => {
    const outcomes: string[] = [];
    for (let run = 0; run < 3; run++) {
      const storage = path.join(work, `ws-mid-${run}`);
      const reference = `${registry.host}/resume/mid-${run}:v1`;
      await killWhen(startChild(big.layout, storage, reference, big.root), async () => (await recorded(storage)).some((e) => e.offset >= SIZE / 2));
      const offset = (await recorded(storage))[0]?.offset ?? 0;
      const logger = memoryLogger();
      const r = await rerun(big.layout, storage, reference, big.root, logger.log);
      assert.equal(r.digest, big.root.digest);
      const why = logger.lines.filter((l) => l.level === 'warn').map((l) => String(l.err ?? l.msg));
      const manifest = JSON.parse((await big.layout.readBlob(big.root.digest)).toString()) as { config: Descriptor };
      const config = r.blobsUploaded === 2 ? manifest.config.size : 0; // the kill came before the config went up
      const layerBytes = r.bytesUploaded - config;
      // Either the session survived (the rest from some offset the registry held) or it was lost (all of it).
      assert.ok(layerBytes === SIZE || (layerBytes < SIZE && layerBytes <= SIZE - offset + CHUNK), `re-run sent ${layerBytes} of ${SIZE} after a kill at recorded offset ${offset}`);
      outcomes.push(`recorded offset ${offset}, re-run sent ${layerBytes} (${((100 * layerBytes) / SIZE).toFixed(1)}%): ${layerBytes === SIZE ? `session lost, blob sent again (${why.join('; ')})` : 'session continued'}`);
    }
    // distribution 2.8 stores what a broken-off PATCH delivered, then refuses the session whose
    // stored size differs from the offset in its _state (and spells it "offest").
    const log = await readFile(registry.logFile, 'utf8');
    const partial = log.match(/client disconnected during blob PATCH"? contentLength=\d+ copied=\d+/g) ?? [];
    const wrongOffset = log.match(/upload resumed at wrong offe?st: \d+ != \d+/g) ?? [];
    outcomes.push(`registry log: ${partial.length} x "${partial[0] ?? ''}", ${wrongOffset.length} x "${wrongOffset[0] ?? ''}"`);
    for (const o of outcomes) t.diagnostic(o);
  });

  it('a multi-file model killed after some blobs skips the finished ones on the re-run', async (t) => {
    const layout = new OciLayout(path.join(work, 'multi'));
    const layers = Array.from({ length: 4 }, () => ({ data: randomBytes(16 * MiB) }));
    const root = await writeImage(layout, { layers });
    const storage = path.join(work, 'ws-multi');
    const reference = `${registry.host}/resume/multi:v1`;
    const before = await blobFiles();
    // Killed once two blobs are stored (the config or a layer, then a layer).
    await killWhen(startChild(layout, storage, reference, root), async () => (await blobFiles()) >= before + 2);
    const stored = (await blobFiles()) - before;
    const r = await rerun(layout, storage, reference, root);
    assert.equal(r.digest, root.digest);
    assert.ok(r.blobsSkipped >= 2, `finished blobs are skipped (${r.blobsSkipped})`);
    const total = layers.length * 16 * MiB;
    assert.ok(r.bytesUploaded <= total - 16 * MiB, `re-run sent ${r.bytesUploaded} of ${total}`);
    t.diagnostic(`multi-file: 4 layers of 16 MiB + config; killed with ${stored} blobs stored; re-run skipped ${r.blobsSkipped}, uploaded ${r.blobsUploaded}, sent ${r.bytesUploaded} bytes (${((100 * r.bytesUploaded) / total).toFixed(1)}% of the layers)`);
  });

  it('SIGTERM (the run\'s stop) in the middle of a chunked push still deletes the open session', async () => {
    const storage = path.join(work, 'ws-sigterm');
    const reference = `${new URL(proxy.url).host}/resume/sigterm:v1`;
    proxy.requests.length = 0;
    proxy.rules.push({ method: 'PATCH', skip: 2, delayMs: 2_000 });
    const stop = new Shutdown();
    const sessions = await UploadSessions.load(await new Workspace(storage).init());
    const pushing = pushLayout({ layout: big.layout, root: big.root, reference, tlsVerify: true, concurrency: 1, log: memoryLogger().log, chunkThreshold: MiB, chunkSize: CHUNK, sessions, retry: quick, stop }).then(
      () => assert.fail('the push went on after the stop'),
      (err: Error) => err,
    );
    while (!proxy.requests.some((q) => q.method === 'PATCH' && q.fault)) await new Promise((resolve) => setTimeout(resolve, 5));
    const account = await stop.stop('SIGTERM');
    assert.match((await pushing).message, /stopped by SIGTERM|aborted/i);
    proxy.rules.length = 0;
    assert.ok(account.done.some((d) => /^the upload session of blob sha256:[0-9a-f]{64} at 127\.0\.0\.1:\d+ deleted$/.test(d)), account.done.join('; '));
    const session = proxy.requests.find((q) => q.method === 'PATCH' && q.fault)!;
    assert.ok(proxy.requests.some((q) => q.method === 'DELETE' && q.path === session.path), 'the session in flight was deleted');
  });

  it('pushes a layout that lacks blobs the destination holds (presentInDestination), and names one it lacks as a precondition', async () => {
    const layout = new OciLayout(path.join(work, 'streamed'));
    const data = randomBytes(10_000);
    const root = await writeImage(layout, { layers: [{ data }] });
    const manifest = JSON.parse((await layout.readBlob(root.digest)).toString()) as { layers: Descriptor[] };
    const layer = manifest.layers[0]!;
    await rm(path.join(layout.blobsDir, layer.digest.slice(7))); // streamed to the registry, never on the volume
    const present = new Set([layer.digest]);
    await assert.rejects(
      pushLayout({ layout, root, reference: `${registry.host}/resume/streamed:v1`, tlsVerify: true, concurrency: 1, log: memoryLogger().log, presentInDestination: present, retry: quick }),
      (err: Error & { kind?: string }) => {
        assert.equal(err.kind, 'precondition', err.message);
        assert.ok(err.message.includes(`lacks blob ${layer.digest}`), err.message);
        return true;
      },
    );
    // Once the registry holds it, the push succeeds without the layout's copy.
    const full = new OciLayout(path.join(work, 'streamed-full'));
    await writeImage(full, { layers: [{ data }] });
    await pushLayout({ layout: full, root, reference: `${registry.host}/resume/streamed:seed`, tlsVerify: true, concurrency: 1, log: memoryLogger().log, retry: quick });
    const r = await pushLayout({ layout, root, reference: `${registry.host}/resume/streamed:v1`, tlsVerify: true, concurrency: 1, log: memoryLogger().log, presentInDestination: present, retry: quick });
    assert.equal(r.digest, root.digest);
    await assert.rejects(
      pushLayout({ layout, root, reference: `${registry.host}/resume/other:v1`, tlsVerify: true, concurrency: 1, log: memoryLogger().log, retry: quick }),
      /lacks blob/,
      'without presentInDestination the layout must hold every blob',
    );
  });
});
