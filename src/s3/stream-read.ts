// Reads one S3 object from a byte offset as a stream, for the streaming `all` (nothing is written
// to the volume). An object up to the ranged threshold is one GET streamed as it arrives; a larger
// one is an ordered ranged reader: parts of STREAM_PART_SIZE are fetched in parallel, at most
// STREAM_WINDOW at once, each held in memory until every part before it has been emitted, so one
// open stream holds at most STREAM_WINDOW x STREAM_PART_SIZE bytes (8 MiB), and a part is started
// only when the consumer has taken the one `STREAM_WINDOW` places before it (backpressure).
// Every answer is checked against the bytes asked (verify.ts), and every GET carries If-Match with
// the listed ETag, so an object replaced mid-read fails as `integrity` instead of mixing versions.
// A body cut mid-way is taken up again with a Range from the byte reached (the retry policy's
// attempts); the request itself is retried by the SDK (client.ts).
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { RETRY_DEFAULTS, retryDelay } from '../net/retry.js';
import { getAskedBytes, type ObjectVersion } from './download.js';
import { isTransientS3Error, s3Error, s3Uri } from './errors.js';
import { longerBodyError, type AskedBytes } from './verify.js';

/**
 * The part of a streamed ranged read: 2 MiB, far below fetch's s3-part-size (64 MiB by default,
 * sized for positional writes to disk, where no part waits in memory). Here every part not yet
 * emitted waits in memory, and the streaming `all` reads several files at once; measured on RGW
 * with a 512 MiB object, one stream's RSS grew by 50-60 MiB with 2 MiB parts, 80 with 4 MiB and
 * 115-130 with 8 MiB (V8 collects Buffers late, so garbage about as large as the live window
 * comes on top), at the same CPU per byte.
 */
export const STREAM_PART_SIZE = 2 * 1024 * 1024;
/** Parts in flight or waiting per open stream. */
export const STREAM_WINDOW = 4;

export interface StreamReadRequest {
  client: S3Client;
  bucket: string;
  key: string;
  size: number;
  etag?: string;
  /** Objects above this size are read as parallel ranged GETs (s3-ranged-threshold). */
  threshold: number;
  /** The ranged part size: STREAM_PART_SIZE unless smaller (tests use small parts). */
  partSize?: number;
  /** Attempts for a body cut mid-way (the retry policy's by default). */
  attempts?: number;
  log: Logger;
}

/** Bytes `start`..size-1 of the object; the signal (and destroying the stream) aborts every request. */
export function readS3Object(req: StreamReadRequest, start: number, signal?: AbortSignal): Readable {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const object: ObjectVersion = { client: req.client, bucket: req.bucket, key: req.key, size: req.size, ...(req.etag ? { etag: req.etag } : {}), signal: stop.signal };
  const source = req.size > req.threshold ? orderedParts(req, object, start) : rangeBytes(req, object, start, req.size - 1, s3Uri(req.bucket, req.key));
  async function* guarded(): AsyncGenerator<Buffer> {
    try {
      yield* source;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stop.abort(); // parts still in flight end with the stream
    }
  }
  return Readable.from(guarded(), { objectMode: false });
}

/** The object from `start` as parts of the window, emitted in order. */
async function* orderedParts(req: StreamReadRequest, object: ObjectVersion, start: number): AsyncGenerator<Buffer> {
  const partSize = Math.min(req.partSize ?? STREAM_PART_SIZE, STREAM_PART_SIZE);
  const where = s3Uri(req.bucket, req.key);
  const count = Math.ceil((req.size - start) / partSize);
  const fetchPart = (index: number): Promise<Buffer[]> => {
    const from = start + index * partSize;
    const to = Math.min(from + partSize, req.size) - 1;
    const chunks = collect(rangeBytes(req, object, from, to, `${where} part ${index + 1} of ${count} (from byte ${start})`));
    chunks.catch(() => undefined); // a part after a failed one is never awaited
    return chunks;
  };
  const window: Promise<Buffer[]>[] = [];
  let next = 0;
  while (next < count && window.length < STREAM_WINDOW) window.push(fetchPart(next++));
  while (window.length > 0) {
    const chunks = await window.shift()!;
    yield* chunks;
    // Only now: the emitted part is released before the next one is asked for.
    if (next < count) window.push(fetchPart(next++));
  }
}

async function collect(bytes: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of bytes) chunks.push(chunk);
  return chunks;
}

/**
 * Bytes `from`..`to` of the object as they arrive; a body cut mid-way (or ending short) is asked
 * again from the byte reached. A request the SDK gave up on, or a wrong answer, is not retried.
 */
async function* rangeBytes(req: StreamReadRequest, object: ObjectVersion, from: number, to: number, wherePart: string): AsyncGenerator<Buffer> {
  const attempts = req.attempts ?? RETRY_DEFAULTS.attempts;
  let reached = from;
  for (let failed = 0; ; ) {
    const asked: AskedBytes = { from: reached, to, ranged: !(reached === 0 && to === req.size - 1) };
    const answer = await getAskedBytes(object, asked, wherePart, true);
    const body = answer.Body as Readable | undefined;
    try {
      if (body) {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (chunk.length > to + 1 - reached) throw longerBodyError(wherePart, asked.to - asked.from + 1);
          reached += chunk.length;
          yield chunk;
        }
      }
      if (reached > to) return;
      throw new ModelSyncError('transient', `reading ${wherePart}: connection closed after ${reached - from} of ${to + 1 - from} bytes`);
    } catch (err) {
      if (object.signal?.aborted || !isTransientS3Error(err)) throw s3Error(err, 'reading', req.bucket, req.key);
      const delay = retryDelay({ ...RETRY_DEFAULTS, attempts }, ++failed);
      if (delay === undefined) throw s3Error(err, 'reading', req.bucket, req.key);
      req.log.warn({ attempt: failed, delayMs: Math.round(delay), from: reached, err: (err as Error).message }, `GET ${wherePart}: body cut, resuming with a Range`);
      await sleep(delay, undefined, object.signal ? { signal: object.signal } : {});
    } finally {
      body?.destroy();
    }
  }
}
