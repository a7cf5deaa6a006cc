// Downloads one S3 object into a file. Small objects take one GET; objects above the ranged
// threshold are split into parts fetched in parallel (ranged GETs) and written at their offsets
// into the same file. The sha256 is computed while the bytes arrive: the part at the head of the
// file is hashed as it streams, parts ahead of it keep their chunks until they become the head,
// and parts are started at most `window` ahead of the head, so memory stays below
// window x part size. A part cut off mid-way resumes with a Range from its last byte, so nothing
// is hashed twice. Every answer is checked against the bytes asked (verify.ts); when the ETag is a
// single-part MD5 the same in-order pass computes the MD5 too, and a whole-object GET asks for the
// server's checksums, which the SDK checks as the body streams (composite ones it skips).
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../util/progress.js';
import { withRetry } from '../net/retry.js';
import type { Limiter } from '../util/concurrency.js';
import { isTransientS3Error, s3Error, s3Uri } from './errors.js';
import { checkAnswer, encryptionHidesMd5, etagMd5, longerBodyError, md5MismatchError } from './verify.js';


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
  /** The run's stop signal: aborted, the requests end and the download fails with an AbortError. */
  signal?: AbortSignal;
}

interface Part {
  index: number;
  start: number;
  length: number;
}

export async function downloadObject(req: DownloadRequest): Promise<{ size: number; sha256: string }> {
  const parts = planParts(req.size, req.tuning);
  const expectedMd5 = etagMd5(req.etag);
  const hasher = new OrderedHasher(expectedMd5 !== undefined);
  if (!expectedMd5) req.log.debug({ key: req.key, etag: req.etag }, 'ETag is not an MD5 (multipart upload or none): MD5 check skipped');
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
        .run(() => fetchPart(req, part, parts.length, fh, hasher))
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
  const { sha256, md5 } = hasher.digest();
  if (expectedMd5 && md5 !== undefined && md5 !== expectedMd5) throw md5MismatchError(s3Uri(req.bucket, req.key), md5, req.etag!);
  return { size: req.size, sha256 };
}

function planParts(size: number, tuning: RangedTuning): Part[] {
  if (size <= tuning.threshold) return [{ index: 0, start: 0, length: size }];
  const parts: Part[] = [];
  for (let start = 0, index = 0; start < size; start += tuning.partSize, index++) {
    parts.push({ index, start, length: Math.min(tuning.partSize, size - start) });
  }
  return parts;
}

async function fetchPart(req: DownloadRequest, part: Part, parts: number, fh: import('node:fs/promises').FileHandle, hasher: OrderedHasher): Promise<void> {
  const where = s3Uri(req.bucket, req.key);
  const wherePart = parts === 1 ? where : `${where} part ${part.index + 1} of ${parts}`;
  let received = 0;
  if (part.length === 0) {
    hasher.finish(part.index);
    return;
  }
  // GetObject itself is retried by the SDK with the same policy (s3/client.ts); this loop takes
  // up a body cut mid-way, from its last byte, and does not retry a request the SDK gave up on.
  // A wrong answer (verify.ts) is not retried either: a proxy or clone that ignores Range does so
  // on every request, and exit 7 is one a Job retry policy may take (completed files are kept).
  let sdkGaveUp = false;
  await withRetry(
    async () => {
      const asked = { from: part.start + received, to: part.start + part.length - 1, ranged: !(part.length === req.size && received === 0) };
      let res;
      try {
        res = await req.client.send(
          new GetObjectCommand({
            Bucket: req.bucket,
            Key: req.key,
            // S3 sends checksums for whole objects only; the SDK then checks them as the body streams.
            ...(asked.ranged ? { Range: `bytes=${asked.from}-${asked.to}` } : { ChecksumMode: 'ENABLED' }),
          }),
          { abortSignal: req.signal },
        );
      } catch (err) {
        sdkGaveUp = true;
        throw s3Error(err, 'downloading', req.bucket, req.key);
      }
      const body = res.Body as Readable | undefined;
      if (req.etag && res.ETag && res.ETag !== req.etag) {
        body?.destroy();
        throw new ModelSyncError('integrity', `${where} changed while it was downloaded (ETag ${req.etag} became ${res.ETag}); run fetch again`);
      }
      try {
        checkAnswer(res, asked, req.size, wherePart);
      } catch (err) {
        body?.destroy();
        throw err;
      }
      if (encryptionHidesMd5(res)) hasher.dropMd5();
      if (!body) throw new ModelSyncError('transient', `downloading ${where}: empty response body`);
      try {
        // Read to the end (no early break): the SDK's checksum check runs when the body ends.
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (chunk.length > part.length - received) throw longerBodyError(wherePart, asked.to - asked.from + 1);
          await fh.write(chunk, 0, chunk.length, part.start + received);
          hasher.push(part.index, chunk);
          received += chunk.length;
          req.progress?.add(chunk.length);
        }
      } catch (err) {
        throw s3Error(err, 'downloading', req.bucket, req.key);
      }
      if (received < part.length) {
        throw new ModelSyncError('transient', `downloading ${where}: connection closed after ${received} of ${part.length} bytes (range from ${part.start})`);
      }
    },
    { ...(req.attempts ? { attempts: req.attempts } : {}), isTransient: (err) => !sdkGaveUp && isTransientS3Error(err), log: req.log, what: `GET ${wherePart}` },
  );
  hasher.finish(part.index);
}

/** sha256 (and the MD5 when asked) over parts in file order while the parts arrive in any order. */
class OrderedHasher {
  private readonly hash = createHash('sha256');
  private md5: Hash | undefined;
  private readonly held = new Map<number, Buffer[]>();
  private readonly done = new Set<number>();
  private waiters: Array<() => void> = [];
  head = 0;

  constructor(withMd5: boolean) {
    this.md5 = withMd5 ? createHash('md5') : undefined;
  }

  /** The ETag is no MD5 after all (SSE-KMS, SSE-C): stop spending CPU on it. */
  dropMd5(): void {
    this.md5 = undefined;
  }

  private update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.md5?.update(chunk);
  }

  push(index: number, chunk: Buffer): void {
    if (index === this.head) this.update(chunk);
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
      for (const chunk of this.held.get(this.head) ?? []) this.update(chunk);
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

  digest(): { sha256: string; md5?: string } {
    return { sha256: this.hash.digest('hex'), ...(this.md5 ? { md5: this.md5.digest('hex') } : {}) };
  }
}
