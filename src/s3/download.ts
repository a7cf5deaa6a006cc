// Downloads one S3 object into a file. Small objects take one GET; objects above the ranged
// threshold are split into parts fetched in parallel (ranged GETs) and written at their offsets
// into the same file. The sha256 is computed while the bytes arrive: the part at the head of the
// file is hashed as it streams, parts ahead of it keep their chunks until they become the head,
// and parts are started at most `window` ahead of the head, so memory stays below
// window x part size. A part cut off mid-way resumes with a Range from its last byte, so nothing
// is hashed twice.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../util/progress.js';
import { withRetry } from '../net/retry.js';
import type { Limiter } from '../util/concurrency.js';
import { isTransientS3Error, s3Error, s3Uri } from './errors.js';


/** How objects are split: those above `threshold` bytes go as ranged GETs of `partSize` (s3-part-size, s3-ranged-threshold). */
export interface RangedTuning {
  partSize: number;
  threshold: number;
}

export interface DownloadRequest {
  client: S3Client;
  bucket: string;
  key: string;
  size: number;
  etag?: string;
  file: string;
  /** Shared pool of connections (files and parts draw on the same one). */
  requests: Limiter;
  tuning: RangedTuning;
  progress?: Progress;
  log: Logger;
  /** How often a body cut mid-way is taken up again (default: the retry policy's). */
  attempts?: number;
}

interface Part {
  index: number;
  start: number;
  length: number;
}

export async function downloadObject(req: DownloadRequest): Promise<{ size: number; sha256: string }> {
  const parts = planParts(req.size, req.tuning);
  const hasher = new OrderedHasher();
  if (parts.length > 1) req.log.debug({ key: req.key, parts: parts.length, partSize: req.tuning.partSize }, 'ranged download');
  const fh = await open(req.file, 'w');
  try {
    const window = Math.max(2, req.requests.limit * 2);
    const running: Promise<void>[] = [];
    let failure: unknown;
    for (const part of parts) {
      while (!failure && part.index >= hasher.head + window) await hasher.advanced();
      if (failure) break;
      const task = req.requests
        .run(() => fetchPart(req, part, fh, hasher))
        .catch((err: unknown) => {
          failure ??= err;
          hasher.wake();
        });
      running.push(task);
    }
    await Promise.all(running);
    if (failure) throw failure;
  } finally {
    await fh.close();
  }
  if (hasher.head !== parts.length) throw new ModelSyncError('internal', `${s3Uri(req.bucket, req.key)}: parts incomplete`);
  return { size: req.size, sha256: hasher.digest() };
}

function planParts(size: number, tuning: RangedTuning): Part[] {
  if (size <= tuning.threshold) return [{ index: 0, start: 0, length: size }];
  const parts: Part[] = [];
  for (let start = 0, index = 0; start < size; start += tuning.partSize, index++) {
    parts.push({ index, start, length: Math.min(tuning.partSize, size - start) });
  }
  return parts;
}

async function fetchPart(req: DownloadRequest, part: Part, fh: import('node:fs/promises').FileHandle, hasher: OrderedHasher): Promise<void> {
  const where = s3Uri(req.bucket, req.key);
  let received = 0;
  if (part.length === 0) {
    hasher.finish(part.index);
    return;
  }
  // GetObject itself is retried by the SDK with the same policy (s3/client.ts); this loop takes
  // up a body cut mid-way, from its last byte, and does not retry a request the SDK gave up on.
  let sdkGaveUp = false;
  await withRetry(
    async () => {
      const from = part.start + received;
      const to = part.start + part.length - 1;
      const whole = part.start === 0 && part.length === req.size && received === 0;
      let res;
      try {
        res = await req.client.send(
          new GetObjectCommand({ Bucket: req.bucket, Key: req.key, ...(whole ? {} : { Range: `bytes=${from}-${to}` }) }),
        );
      } catch (err) {
        sdkGaveUp = true;
        throw s3Error(err, 'downloading', req.bucket, req.key);
      }
      if (req.etag && res.ETag && res.ETag !== req.etag) {
        (res.Body as Readable | undefined)?.destroy();
        throw new ModelSyncError('integrity', `${where} changed while it was downloaded (ETag ${req.etag} became ${res.ETag}); run fetch again`);
      }
      const body = res.Body as Readable | undefined;
      if (!body) throw new ModelSyncError('transient', `downloading ${where}: empty response body`);
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          const room = part.length - received;
          const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
          await fh.write(piece, 0, piece.length, part.start + received);
          hasher.push(part.index, piece);
          received += piece.length;
          req.progress?.add(piece.length);
          if (received === part.length) break;
        }
      } catch (err) {
        throw s3Error(err, 'downloading', req.bucket, req.key);
      }
      if (received < part.length) {
        throw new ModelSyncError('transient', `downloading ${where}: connection closed after ${received} of ${part.length} bytes (range from ${part.start})`);
      }
    },
    { ...(req.attempts ? { attempts: req.attempts } : {}), isTransient: (err) => !sdkGaveUp && isTransientS3Error(err), log: req.log, what: `GET ${where}${part.length === req.size ? '' : ` part ${part.index + 1}`}` },
  );
  hasher.finish(part.index);
}

/** sha256 over parts in file order while the parts arrive in any order. */
class OrderedHasher {
  private readonly hash = createHash('sha256');
  private readonly held = new Map<number, Buffer[]>();
  private readonly done = new Set<number>();
  private waiters: Array<() => void> = [];
  head = 0;

  push(index: number, chunk: Buffer): void {
    if (index === this.head) this.hash.update(chunk);
    else {
      const list = this.held.get(index);
      if (list) list.push(chunk);
      else this.held.set(index, [chunk]);
    }
  }

  finish(index: number): void {
    this.done.add(index);
    while (this.done.has(this.head)) {
      this.done.delete(this.head);
      this.head++;
      for (const chunk of this.held.get(this.head) ?? []) this.hash.update(chunk);
      this.held.delete(this.head);
    }
    this.wake();
  }

  advanced(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}
