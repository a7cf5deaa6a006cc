// fetch from S3 killed with SIGKILL in the middle of a large object, then run again: the partial
// file and its record (src/s3/partial.ts) are kept, and the re-run asks only for the missing bytes
// (counted from the Range headers at a fault proxy in front of s3rver), unless the object changed.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { runCli, runCliSignalled, tempDir } from '../dev/cli.js';
import { startS3Server, type S3Server } from '../dev/s3-server.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { logLines, readInventory, sha256 } from './support/fetch-helpers.js';
import { s3FetchEnv } from './support/s3-fetch-env.js';

const SIZE = 24 * 1024 * 1024;
const KEY = 'resume/model.safetensors';
// 1 MiB parts, two at a time, each GET held back a little: the kill lands mid-object.
const RANGED = { MODEL_SYNC_S3_PART_SIZE: String(1024 * 1024), MODEL_SYNC_S3_RANGED_THRESHOLD: String(1024 * 1024), MODEL_SYNC_FETCH_CONCURRENCY: '2' };
let s3: S3Server;
let proxy: FaultProxy;
const temps: string[] = [];

before(async () => {
  s3 = await startS3Server('models');
  proxy = await startFaultProxy(s3.endpoint);
});

beforeEach(() => {
  proxy.rules.length = 0;
  proxy.requests.length = 0;
});

after(async () => {
  await proxy?.stop();
  await s3?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  const dir = await tempDir('ms-fetch-resume-');
  temps.push(dir);
  return path.join(dir, 'ws');
}

function env(ws: string): Record<string, string> {
  return s3FetchEnv(s3.bucket, proxy.url, ws, 'resume', RANGED);
}

const partialDir = (ws: string) => path.join(ws, '.model-sync', 'tmp', 'fetch-partial');

/** Bytes the partial record says are on disk (0 while there is none). */
async function recordedBytes(ws: string): Promise<number> {
  const names = await readdir(partialDir(ws)).catch(() => [] as string[]);
  const record = names.find((n) => n.endsWith('.json'));
  if (!record) return 0;
  const text = await readFile(path.join(partialDir(ws), record), 'utf8').catch(() => '{}');
  try {
    return ((JSON.parse(text) as { done?: number[] }).done ?? []).reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

/** Body bytes asked for the object since the last reset, from the Range headers (a GET without one asks for all). */
function bytesAsked(): number {
  let asked = 0;
  for (const r of proxy.requests) {
    if (r.method !== 'GET' || !r.path.endsWith(KEY)) continue;
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(r.headers.range ?? ''));
    asked += m ? Number(m[2]) - Number(m[1]) + 1 : SIZE;
  }
  return asked;
}

/** A fetch killed with SIGKILL once about half of the object is recorded on disk. */
async function killMidway(ws: string): Promise<void> {
  proxy.rules.push({ method: 'GET', path: `/models/${KEY}`, delayMs: 120, times: 10_000 });
  const r = await runCliSignalled(['fetch'], env(ws), { when: async () => (await recordedBytes(ws)) >= SIZE / 2, signal: 'SIGKILL' });
  assert.equal(r.killedBy, 'SIGKILL', `the fetch ended before the kill: ${r.stderr}`);
  const kept = await recordedBytes(ws);
  assert.ok(kept >= SIZE / 2 && kept < SIZE, `the record holds ${kept} of ${SIZE} bytes`);
  proxy.rules.length = 0;
  proxy.requests.length = 0;
}

test('a fetch killed with SIGKILL mid-object resumes with Range: the re-run asks at most 60% of the bytes and the file is byte-identical', async (t) => {
  const body = randomBytes(SIZE);
  await s3.put(KEY, body);
  const ws = await storage();
  await killMidway(ws);
  const r = await runCli(['fetch'], env(ws));
  assert.equal(r.code, 0, r.stderr);
  const resumed = logLines(r.stderr).find((l) => l.msg === 'resuming a partial download');
  assert.ok(resumed, `the re-run says it resumes: ${r.stderr.split('\n').filter((l) => /partial|resum|interrupted/.test(l)).join(' | ')}`);
  const asked = bytesAsked();
  t.diagnostic(`re-run asked ${asked} of ${SIZE} bytes (${((100 * asked) / SIZE).toFixed(0)}%)`);
  assert.ok(asked <= 0.6 * SIZE, `the re-run asked ${asked} bytes of ${SIZE}`);
  assert.ok(asked > 0, 'the re-run asked for the rest');
  const file = await readFile(path.join(ws, 'model', 'model.safetensors'));
  assert.ok(file.equals(body), 'the resumed file is byte-identical');
  const inv = await readInventory(ws);
  assert.equal(inv.files.find((f) => f.path === 'model.safetensors')?.sha256, sha256(body), 'the sha256 covers the bytes of both runs');
  assert.deepEqual(await readdir(partialDir(ws)).catch(() => []), [], 'no partial file or record is left');
});

test('a partial file of an object that changed since (new ETag) is not resumed: the re-run starts over', async () => {
  await s3.put(KEY, randomBytes(SIZE));
  const ws = await storage();
  await killMidway(ws);
  const changed = randomBytes(SIZE);
  await s3.put(KEY, changed);
  const r = await runCli(['fetch'], env(ws));
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!logLines(r.stderr).some((l) => l.msg === 'resuming a partial download'), 'nothing is resumed');
  assert.ok(bytesAsked() >= SIZE, `the re-run asked for the whole object (${bytesAsked()} bytes)`);
  const file = await readFile(path.join(ws, 'model', 'model.safetensors'));
  assert.ok(file.equals(changed), 'the file is the new object');
});
