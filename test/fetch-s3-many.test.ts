// Many small files: fetch.json is saved at most every SAVE_INTERVAL_MS, not once per file (its
// rewrite grows with the file count, so per-file saves cost the square of it), always once more at
// the end and on failure; and a fetch of many S3 objects killed with SIGKILL resumes from what
// fetch.json recorded, fetching again only what it had not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, runCliSignalled, tempDir } from '../dev/cli.js';
import { startS3Server, type S3Server } from '../dev/s3-server.js';
import { createLogger } from '../src/log.js';
import { SAVE_INTERVAL_MS, saveHooks, withSession, type FetchContext } from '../src/sources/session.js';
import { readRecord, type FetchRecord } from '../src/workspace/records.js';
import { Workspace } from '../src/workspace/workspace.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { logLines, readInventory, sha256 } from './support/fetch-helpers.js';
import { s3FetchEnv } from './support/s3-fetch-env.js';

const temps: string[] = [];
let s3: S3Server;
let proxy: FaultProxy;
const OBJECTS = 120;
const bodies = new Map<string, Buffer>();

before(async () => {
  s3 = await startS3Server('models');
  for (let i = 0; i < OBJECTS; i++) {
    const key = `many/d${i % 4}/f${String(i).padStart(3, '0')}.bin`;
    const body = randomBytes(2000 + i * 37);
    bodies.set(key, body);
    await s3.put(key, body);
  }
  proxy = await startFaultProxy(s3.endpoint);
});

after(async () => {
  saveHooks.written = undefined;
  await proxy?.stop();
  await s3?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await tempDir('ms-fetch-many-');
  temps.push(dir);
  return path.join(dir, 'ws');
}

async function context(): Promise<FetchContext> {
  const workspace = await new Workspace(await storage()).init();
  return {
    workspace,
    log: createLogger({ level: 'silent', format: 'json' }),
    concurrency: 4,
    progressIntervalSeconds: 60,
    network: { idleTimeoutMs: 10_000, retryAttempts: 1 },
    archiveLimits: { maxRatio: 100, maxBytes: 1e12, ratioSetting: 'r', bytesSetting: 'b' },
  };
}

/** Writes `files` files through a session, `perMs` ms apart; returns the records written. */
async function paced(ctx: FetchContext, files: number, perMs: number, fail = false): Promise<FetchRecord[]> {
  const writes: FetchRecord[] = [];
  saveHooks.written = (r) => writes.push(structuredClone(r));
  try {
    await withSession(ctx, 'test://many', async (session) => {
      for (let i = 0; i < files; i++) {
        await session.writeStream(`f${i}.bin`, Readable.from([Buffer.from(`file ${i}`)]), { what: `file ${i}`, identity: { etag: `"e${i}"` } });
        await sleep(perMs);
      }
      if (fail) throw new Error('source failed');
    });
  } finally {
    saveHooks.written = undefined;
  }
  return writes;
}

test('fetch.json is written a few times per second however many files complete, and once more at the end', async () => {
  const ctx = await context();
  const started = Date.now();
  const writes = await paced(ctx, 400, 2);
  const seconds = (Date.now() - started) / 1000;
  // Once per file before: 400 writes. Now one per interval, plus the last.
  assert.ok(writes.length <= Math.ceil((seconds * 1000) / SAVE_INTERVAL_MS) + 2, `${writes.length} writes in ${seconds} s`);
  assert.ok(writes.length < 400 / 10, `${writes.length} writes for 400 files`);
  const last = writes.at(-1)!;
  assert.equal(last.complete, true);
  assert.equal(Object.keys(last.files).length, 400);
  const onDisk = await readRecord(ctx.workspace, 'fetch');
  assert.equal(onDisk?.complete, true);
  assert.equal(Object.keys(onDisk?.files ?? {}).length, 400);
});

test('a fetch that fails saves every file it completed before it throws', async () => {
  const ctx = await context();
  await assert.rejects(paced(ctx, 30, 0, true), /source failed/);
  const onDisk = await readRecord(ctx.workspace, 'fetch');
  assert.equal(onDisk?.complete, false);
  assert.equal(Object.keys(onDisk?.files ?? {}).length, 30);
});

test('a many-file S3 fetch killed with SIGKILL resumes: recorded files are skipped, the rest fetched, all byte for byte', async () => {
  const ws = await storage();
  const env = s3FetchEnv(s3.bucket, proxy.url, ws, 'many', { MODEL_SYNC_FETCH_CONCURRENCY: '2' });
  const fetchJson = path.join(ws, '.model-sync', 'fetch.json');
  const recorded = async (): Promise<number> => {
    try {
      return Object.keys((JSON.parse(await readFile(fetchJson, 'utf8')) as FetchRecord).files).length;
    } catch {
      return 0;
    }
  };
  proxy.rules.push({ method: 'GET', path: /^\/models\/many\//, delayMs: 40, times: 100_000 });
  const killed = await runCliSignalled(['fetch'], env, { when: async () => (await recorded()) >= OBJECTS / 4, signal: 'SIGKILL' });
  proxy.rules.length = 0;
  assert.equal(killed.killedBy, 'SIGKILL', `the fetch ended before the kill: ${killed.stderr}`);
  const record = JSON.parse(await readFile(fetchJson, 'utf8')) as FetchRecord;
  const kept = Object.keys(record.files);
  assert.equal(record.complete, false);
  assert.ok(kept.length >= OBJECTS / 4 && kept.length < OBJECTS, `${kept.length} recorded at the kill`);
  // Every recorded file is in model/ with its size (recorded only after the rename).
  for (const rel of kept) assert.equal((await stat(path.join(ws, 'model', rel))).size, record.files[rel]!.size, rel);

  const again = await runCli(['fetch'], env);
  assert.equal(again.code, 0, again.stderr);
  const skipped = logLines(again.stderr).filter((l) => l.msg === 'already complete, skipping').map((l) => l.path as string);
  for (const rel of kept) assert.ok(skipped.includes(rel), `${rel} was recorded but fetched again`);
  assert.ok(skipped.length < OBJECTS, 'the re-run fetched nothing');
  const inventory = await readInventory(ws);
  assert.equal(inventory.files.length, OBJECTS);
  for (const [key, body] of bodies) {
    const rel = key.slice('many/'.length);
    assert.equal(sha256(await readFile(path.join(ws, 'model', rel))), sha256(body), rel);
  }
});
