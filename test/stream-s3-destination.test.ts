// The streaming S3 destination (destinations/stream-s3.ts) on RGW: bodies from StreamFiles (bytes in
// memory), never from the workspace. The objects and keys are those push writes from a fetched
// workspace; a re-run skips what is there; a source that sends the wrong number of bytes leaves no
// object and no open multipart upload; a stop aborts the multipart uploads in flight.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { pushToS3, type S3PushContext } from '../src/destinations/s3.js';
import { streamToS3 } from '../src/destinations/stream-s3.js';
import { ModelSyncError } from '../src/errors.js';
import type { S3Settings } from '../src/s3/client.js';
import { Shutdown } from '../src/util/shutdown.js';
import type { StreamFile } from '../src/util/stream-file.js';
import { Workspace } from '../src/workspace/workspace.js';
import { runCli, tempDir } from '../dev/cli.js';
import { RGW_ACCESS_KEY, RGW_SECRET_KEY } from '../dev/rgw.js';
import { useRgw } from './support/rgw.js';

const rgw = useRgw();
const MiB = 1024 * 1024;
let dir: string;

/** Two files above the 16 MiB part size (multipart, streamed side by side), small ones, a nested path. */
const model = new Map<string, Buffer>([
  ['config.json', Buffer.from('{"x":1}')],
  ['weights/a.bin', randomBytes(17 * MiB + 99)],
  ['weights/b.bin', randomBytes(18 * MiB + 5)],
  ['tokenizer/vocab.txt', randomBytes(4096)],
  ['empty.txt', Buffer.alloc(0)],
]);

before(async () => {
  await rgw.ready;
  dir = await tempDir('ms-stream-s3-');
});

const silent = pino({ level: 'silent' });

function context(name: string, extra: Partial<S3PushContext> = {}): S3PushContext {
  return { workspace: new Workspace(path.join(dir, name)), log: silent, concurrency: 4, progressIntervalSeconds: 0, network: { idleTimeoutMs: 30_000, retryAttempts: 2 }, ...extra };
}

function settings(key: string): S3Settings {
  return { bucket: rgw().bucket, key, region: 'us-east-1', endpoint: rgw().endpoint, accessKeyId: RGW_ACCESS_KEY, secretAccessKey: RGW_SECRET_KEY };
}

/** Reads of StreamFiles: how many were opened, how many are open now, and the most open at once. */
interface Opens {
  n: number;
  open: number;
  most: number;
  /** Paths open at the same time, as seen at each open. */
  together: string[][];
  now: Set<string>;
}

const newOpens = (): Opens => ({ n: 0, open: 0, most: 0, together: [], now: new Set() });

/** A StreamFile over `body`, in 1 MiB chunks; `opens` counts its reads. `claims` overrides its size; `stallAfter` waits there for the signal. */
function memoryFile(p: string, body: Buffer, opts: { claims?: number; opens?: Opens; stallAfter?: number; msPerChunk?: number } = {}): StreamFile {
  return {
    path: p,
    size: opts.claims ?? body.length,
    async open(start: number, signal?: AbortSignal) {
      const opens = opts.opens;
      if (opens) {
        opens.n++;
        opens.most = Math.max(opens.most, ++opens.open);
        opens.now.add(p);
        opens.together.push([...opens.now].sort());
      }
      const stallAfter = opts.stallAfter;
      const stream = Readable.from(
        (async function* () {
          for (let at = start; at < body.length; at += MiB) {
            if (stallAfter !== undefined && at >= stallAfter) await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
            if (opts.msPerChunk) await new Promise((r) => setTimeout(r, opts.msPerChunk));
            yield body.subarray(at, Math.min(at + MiB, body.length));
          }
        })(),
        { objectMode: false },
      );
      if (opens) {
        stream.once('close', () => {
          opens.open--;
          opens.now.delete(p);
        });
      }
      return stream;
    },
  };
}

async function objectsUnder(prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const list = await rgw().client.send(new ListObjectsV2Command({ Bucket: rgw().bucket, Prefix: `${prefix}/` }));
  for (const o of list.Contents ?? []) {
    const got = await rgw().client.send(new GetObjectCommand({ Bucket: rgw().bucket, Key: o.Key! }));
    out.set(o.Key!.slice(prefix.length + 1), Buffer.from(await got.Body!.transformToByteArray()));
  }
  return out;
}

async function exists(key: string): Promise<boolean> {
  return rgw()
    .client.send(new HeadObjectCommand({ Bucket: rgw().bucket, Key: key }))
    .then(
      () => true,
      (err: { name?: string }) => {
        if (err.name === 'NotFound') return false;
        throw err;
      },
    );
}

test('streamed objects are those push writes from a fetched workspace, byte for byte, under the same keys; a re-run opens no file', async () => {
  // push's way: the model on disk, fetched into a workspace, then pushed.
  const source = path.join(dir, 'source');
  for (const [rel, body] of model) {
    await mkdir(path.dirname(path.join(source, rel)), { recursive: true });
    await writeFile(path.join(source, rel), body);
  }
  const ws = path.join(dir, 'fetched');
  const fetched = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `file://${source}` });
  assert.equal(fetched.code, 0, fetched.stderr);
  const pushed = await pushToS3({ ...context('unused'), workspace: new Workspace(ws) }, settings('pushed/v1'));

  const opens = newOpens();
  // A source slower than memory (10 ms a MiB), so that streams read side by side overlap.
  const files = [...model].map(([rel, body]) => memoryFile(rel, body, { opens, msPerChunk: 10 }));
  const ctx = context('stream-ws');
  const bytes = [...model.values()].reduce((n, b) => n + b.length, 0);
  const first = await streamToS3(ctx, settings('/streamed/v1/'), files);
  assert.deepEqual(first, { uri: `s3://${rgw().bucket}/streamed/v1`, files: model.size, bytes, skipped: 0 });
  assert.deepEqual({ ...pushed, uri: '' }, { ...first, uri: '' }, 'the same counts as push');
  assert.equal(opens.n, model.size, 'each file read once');
  assert.equal(opens.open, 0, 'every source stream closed');
  // Small files go 4 at a time; the two large ones stream side by side (2 files x 2 parts each).
  assert.ok(opens.most <= ctx.concurrency, `at most ${ctx.concurrency} source streams open at once, saw ${opens.most}`);
  assert.ok(
    opens.together.some((paths) => paths.includes('weights/a.bin') && paths.includes('weights/b.bin')),
    `the large files stream side by side: ${JSON.stringify(opens.together)}`,
  );

  const streamed = await objectsUnder('streamed/v1');
  const fromPush = await objectsUnder('pushed/v1');
  assert.deepEqual([...streamed.keys()].sort(), [...fromPush.keys()].sort());
  assert.deepEqual([...streamed.keys()].sort(), [...model.keys()].sort());
  for (const [rel, body] of model) assert.ok(streamed.get(rel)!.equals(body), rel);
  const left = await readdir(path.join(dir, 'stream-ws'), { recursive: true }).catch(() => []);
  assert.deepEqual(left.filter((f) => f !== '.model-sync'), [], 'nothing left in the workspace: no model/, no upload record');

  opens.n = 0;
  const second = await streamToS3(ctx, settings('streamed/v1'), files);
  assert.deepEqual(second, { uri: `s3://${rgw().bucket}/streamed/v1`, files: model.size, bytes: 0, skipped: model.size });
  assert.equal(opens.n, 0, 'a key holding an object of the same size is skipped without reading the source');
});

test('a source that sends fewer or more bytes than it listed leaves no object and no open multipart upload', async () => {
  const big = randomBytes(17 * MiB + 1);
  const small = randomBytes(1000);
  const cases: Array<{ name: string; file: StreamFile }> = [
    { name: 'short multipart', file: memoryFile('weights/short.bin', big, { claims: 20 * MiB }) },
    { name: 'long multipart', file: memoryFile('weights/long.bin', big, { claims: 17 * MiB }) },
    { name: 'short single PUT', file: memoryFile('short.txt', small, { claims: 2000 }) },
    { name: 'long single PUT', file: memoryFile('long.txt', small, { claims: 10 }) },
  ];
  for (const { name, file } of cases) {
    const ctx = context(`wrong-${file.path.replace(/\W/g, '-')}`);
    await assert.rejects(
      streamToS3(ctx, settings('wrong'), [file]),
      (e: unknown) => e instanceof ModelSyncError && e.kind === 'integrity' && e.message.includes(`source file "${file.path}"`) && e.message.includes(`${file.size} were expected`),
      name,
    );
    assert.equal(await exists(`wrong/${file.path}`), false, `${name}: no object`);
    assert.deepEqual(await rgw().listMultipartUploads(rgw().bucket, 'wrong/'), [], `${name}: no open multipart upload`);
    assert.equal(await ctx.workspace.readJson('s3-uploads.json'), undefined, `${name}: no upload record left`);
  }
});

test('a stop in the middle aborts the multipart uploads in flight; the files that finished stay', async () => {
  const stop = new Shutdown();
  const big = randomBytes(40 * MiB);
  // Sends its first 20 MiB (one part goes up, the multipart upload is open), then waits for the stop.
  const stalls = memoryFile('weights/stalls.bin', big, { stallAfter: 20 * MiB });
  const done = memoryFile('config.json', Buffer.from('{}'));
  const ctx = context('stopped', { stop });
  const run = streamToS3(ctx, settings('stopped'), [done, stalls]);
  const ended = run.then(
    () => undefined,
    (err: unknown) => err,
  );
  const deadline = Date.now() + 20_000;
  // Open on the server and recorded by the client (s3-uploads.json): the server lists an upload a
  // moment before its answer reaches the client, and a stop in between is left to the next push.
  while ((await rgw().listMultipartUploads(rgw().bucket, 'stopped/')).length === 0 || (await ctx.workspace.readJson('s3-uploads.json')) === undefined) {
    assert.ok(Date.now() < deadline, 'the multipart upload never opened');
    await new Promise((r) => setTimeout(r, 100));
  }
  const account = await stop.stop('SIGTERM');
  assert.ok((await ended) instanceof Error, 'the run fails once stopped');
  assert.deepEqual(account.failed, []);
  assert.match(account.done.join('\n'), /aborted the multipart upload of s3:\/\/models\/stopped\/weights\/stalls\.bin \(upload id [^)]+\)/);
  assert.deepEqual(await rgw().listMultipartUploads(rgw().bucket, 'stopped/'), []);
  assert.equal(await exists('stopped/weights/stalls.bin'), false);
  assert.equal(await exists('stopped/config.json'), true);
  assert.equal(await ctx.workspace.readJson('s3-uploads.json'), undefined, 'the record goes with the aborted upload');
});

test('a path that would leave the prefix, or one listed twice, is refused before any request', async () => {
  const body = Buffer.from('x');
  await assert.rejects(streamToS3(context('unsafe'), settings('unsafe'), [memoryFile('../escape.bin', body)]), (e: unknown) => e instanceof ModelSyncError && e.kind === 'unsafe');
  await assert.rejects(
    streamToS3(context('unsafe'), settings('unsafe'), [memoryFile('a/b.bin', body), memoryFile('a//b.bin', body)]),
    (e: unknown) => e instanceof ModelSyncError && e.kind === 'unsafe' && /twice/.test(e.message),
  );
  assert.equal(await exists('unsafe/a/b.bin'), false);
});
