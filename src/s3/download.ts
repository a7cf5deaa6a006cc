// Downloads one S3 object into a file. Small objects take one GET; objects above the ranged
// threshold are split into parts fetched in parallel (ranged GETs) and written at their offsets
// into the same file, in batches of about 128 KiB (one positional writev each, while the bytes
// are still in the CPU's cache). A single GET is hashed (sha256, and the MD5 when the ETag is a
// single-part MD5) as it is written; a ranged one is hashed on a worker thread that reads the file
// back in order behind the offset below which every byte is written (file-hasher.ts), so no part waits in memory for the ones before it and
// memory does not grow with the part size. Parts are started at most `window` ahead of the first
// part not yet written. A part cut off mid-way resumes with a Range from its last written byte,
// so nothing is hashed twice. Every answer is checked against the bytes asked (verify.ts); a
// whole-object GET asks for the server's checksums, which the SDK checks as the body streams
// (composite ones it skips). Another store (Azure Blob) plugs in its own reads (RangeReader) and
// shares the parts, the resume and the hashing.
import { createHash, type Hash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../util/progress.js';
import { withRetry } from '../net/retry.js';
import type { Limiter } from '../util/concurrency.js';
import { FileHasher } from './file-hasher.js';
import { PartialSaver, readPartial } from './partial.js';
import { isTransientS3Error, s3Error, s3Uri } from './errors.js';
import { checkAnswer, encryptionHidesMd5, etagMd5, longerBodyError, md5MismatchError, type AskedBytes } from './verify.js';


/** How objects are split: those above `threshold` bytes go as ranged GETs of `partSize` (s3-part-size, s3-ranged-threshold). */
export interface RangedTuning {
  partSize: number;
  threshold: number;
}

/**
 * Where a download's bytes come from when it is not an S3 object (an Azure blob): one read of the
 * asked bytes, its answer already checked (checkAnswer), and how its failures are named.
 */
export interface RangeReader {
  /** The object as messages name it (no credentials, no query). */
  where: string;
  read(asked: AskedBytes, wherePart: string): Promise<Readable>;
  /** A failure while a body streamed, as the CLI reports it. */
  bodyError(err: unknown): ModelSyncError;
  /** Whether this loop takes a failure up again (false for one the client already retried). */
  isTransient(err: unknown): boolean;
}

/** Where an object's bytes come from: an S3 object (client and bucket) or any other store (reader). */
export type ObjectBytes = { client: S3Client; bucket: string } | { reader: RangeReader };

export type DownloadRequest = DownloadCommon & ObjectBytes;

interface DownloadCommon {
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
  /**
   * Where a ranged download keeps its record (partial.ts), so that a run killed mid-way resumes
   * `file` with Range requests when the object's ETag, size and the part size are unchanged.
   */
  partialRecord?: string;
}

interface Part {
  index: number;
  start: number;
  length: number;
}

export async function downloadObject(req: DownloadRequest): Promise<{ size: number; sha256: string }> {
  const where = 'reader' in req ? req.reader.where : s3Uri(req.bucket, req.key);
  const parts = planParts(req.size, req.tuning);
  const expectedMd5 = etagMd5(req.etag);
  if (!expectedMd5) req.log.debug({ key: req.key, etag: req.etag }, 'ETag is not an MD5 (multipart upload or none): MD5 check skipped');
  if (parts.length > 1) req.log.debug({ key: req.key, parts: parts.length, partSize: req.tuning.partSize }, 'ranged download');
  const written = new WrittenPrefix(parts);
  const resumable = req.partialRecord !== undefined && req.etag !== undefined && parts.length > 1;
  const resumed = resumable ? await resumeFrom(req, parts) : undefined;
  const fh = await open(req.file, resumed ? 'r+' : 'w');
  const saver = resumable ? new PartialSaver(req.partialRecord!, { etag: req.etag!, size: req.size, partSize: req.tuning.partSize }) : undefined;
  if (resumed) {
    let kept = 0;
    resumed.forEach((bytes, i) => {
      written.set(i, bytes);
      kept += bytes;
    });
    req.progress?.add(kept);
    req.log.info({ key: req.key, bytes: kept, of: req.size }, 'resuming a partial download');
  }
  // One part arrives in order and is hashed as it is written; parts out of order are hashed from
  // the file on a worker thread, behind the offset below which everything is written.
  const hashing: Hashing = parts.length > 1 ? new FileHashing(req.file, expectedMd5 !== undefined) : new InlineHashing(expectedMd5 !== undefined);
  hashing.advance(written.offset());
  let digests: { sha256: string; md5?: string };
  try {
    const window = Math.max(2, req.requests.limit * 2);
    const running: Promise<void>[] = [];
    let failure: unknown;
    for (const part of parts) {
      while (!failure && part.index >= written.head + window) await written.advanced();
      if (failure) break;
      const task = req.requests
        .run(() => fetchPart(req, part, parts.length, fh, written, hashing, saver))
        .catch((err: unknown) => {
          failure ??= err;
          written.wake();
        });
      running.push(task);
    }
    await Promise.all(running);
    if (failure) throw failure;
    if (written.head !== parts.length) throw new ModelSyncError('internal', `${where}: parts incomplete`);
    digests = await hashing.digest(req.size);
  } finally {
    await fh.close();
    await hashing.close();
    await saver?.flush();
  }
  await saver?.remove();
  const { sha256, md5 } = digests;
  if (expectedMd5 && md5 !== undefined && md5 !== expectedMd5) throw md5MismatchError(where, md5, req.etag!);
  return { size: req.size, sha256 };
}

/** Bytes per part already on disk from a killed run of the same object, or undefined to start over. */
async function resumeFrom(req: DownloadRequest, parts: Part[]): Promise<number[] | undefined> {
  const record = await readPartial(req.partialRecord!);
  if (!record) return undefined;
  const onDisk = await stat(req.file).then((s) => (s.isFile() ? s.size : -1), () => -1);
  const same = record.etag === req.etag && record.size === req.size && record.partSize === req.tuning.partSize && record.done.length === parts.length;
  if (!same || onDisk < 0 || record.done.some((n, i) => n > parts[i]!.length || (n > 0 && parts[i]!.start + n > onDisk))) {
    req.log.info({ key: req.key, etag: req.etag, recorded: record.etag }, 'a partial download of another version (or split) of the object is not resumed');
    return undefined;
  }
  return record.done;
}

function planParts(size: number, tuning: RangedTuning): Part[] {
  if (size <= tuning.threshold) return [{ index: 0, start: 0, length: size }];
  const parts: Part[] = [];
  for (let start = 0, index = 0; start < size; start += tuning.partSize, index++) {
    parts.push({ index, start, length: Math.min(tuning.partSize, size - start) });
  }
  return parts;
}

/**
 * Bytes gathered from the body before one positional write: two socket reads' worth. Larger
 * batches copy cold memory: at 1 MiB the kernel's copy into the page cache took about 1 CPU-s per
 * GiB here (perf: copy_folio_from_iter_atomic, 17-24 % of fetch's CPU), at 128 KiB it drops to
 * ~0.15, the cost rclone pays with its 32 KiB writes (docs/bench.md, "Where fetch's time goes").
 */
const WRITE_BATCH = 128 * 1024;

async function fetchPart(req: DownloadRequest, part: Part, parts: number, fh: FileHandle, written: WrittenPrefix, hashing: Hashing, saver: PartialSaver | undefined): Promise<void> {
  const where = 'reader' in req ? req.reader.where : s3Uri(req.bucket, req.key);
  const wherePart = parts === 1 ? where : `${where} part ${part.index + 1} of ${parts}`;
  let received = written.of(part.index); // a resumed part starts after what is on disk
  if (received === part.length) {
    written.set(part.index, received);
    return;
  }
  // Received bytes wait in `pending` until WRITE_BATCH of them go to disk in one write; only
  // written bytes count as received, so a retry asks again for whatever was not written.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const batch = pending;
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    const { bytesWritten } = await fh.writev(batch, part.start + received);
    if (bytesWritten !== bytes) throw Object.assign(new Error(`short write (${bytesWritten} of ${bytes} bytes)`), { code: 'ENOSPC' });
    hashing.wrote(batch);
    received += bytes;
    req.progress?.add(bytes);
    hashing.advance(written.set(part.index, received));
    saver?.note(written.perPart());
  };
  // GetObject itself is retried by the SDK with the same policy (s3/client.ts); this loop takes
  // up a body cut mid-way, from its last byte, and does not retry a request the SDK gave up on.
  // A wrong answer (verify.ts) is not retried either: a proxy or clone that ignores Range does so
  // on every request, and exit 7 is one a Job retry policy may take (completed files are kept).
  let sdkGaveUp = false;
  await withRetry(
    async () => {
      const asked = { from: part.start + received, to: part.start + part.length - 1, ranged: !(part.length === req.size && received === 0) };
      let body: Readable | undefined;
      try {
        if ('reader' in req) {
          body = await req.reader.read(asked, wherePart);
        } else {
          const res = await getAskedBytes(req, asked, wherePart);
          body = res.Body as Readable | undefined;
          if (encryptionHidesMd5(res)) hashing.dropMd5();
        }
      } catch (err) {
        sdkGaveUp = true;
        throw err;
      }
      if (!body) throw new ModelSyncError('transient', `downloading ${where}: empty response body`);
      try {
        // Read to the end (no early break): the SDK's checksum check runs when the body ends.
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (chunk.length > part.length - received - pendingBytes) throw longerBodyError(wherePart, asked.to - asked.from + 1);
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= WRITE_BATCH) await flush();
        }
        await flush();
      } catch (err) {
        // What arrived intact is kept, so the retry starts after it.
        await flush().catch(() => undefined);
        throw 'reader' in req ? req.reader.bodyError(err) : s3Error(err, 'downloading', req.bucket, req.key);
      }
      if (received < part.length) {
        throw new ModelSyncError('transient', `downloading ${where}: connection closed after ${received} of ${part.length} bytes (range from ${part.start})`);
      }
    },
    { ...(req.attempts ? { attempts: req.attempts } : {}), isTransient: (err) => !sdkGaveUp && ('reader' in req ? req.reader.isTransient(err) : isTransientS3Error(err)), log: req.log, what: `GET ${wherePart}` },
  );
}

/** The object one GET reads: which version (ETag), and the run's stop signal. */
export interface ObjectVersion {
  client: S3Client;
  bucket: string;
  key: string;
  size: number;
  etag?: string;
  signal?: AbortSignal;
}

/**
 * One GET of the `asked` bytes (a whole-object GET asks for the server's checksums), its answer
 * checked before any byte is taken: another ETag than the listed one, or another range than asked
 * (verify.ts), is `integrity`. With `ifMatch` the server itself refuses (412) a changed object.
 * The SDK has retried the request by the time this fails; the body is the caller's to read.
 */
export async function getAskedBytes(o: ObjectVersion, asked: AskedBytes, wherePart: string, ifMatch = false): Promise<GetObjectCommandOutput> {
  const where = s3Uri(o.bucket, o.key);
  let res: GetObjectCommandOutput;
  try {
    res = await o.client.send(
      new GetObjectCommand({
        Bucket: o.bucket,
        Key: o.key,
        ...(ifMatch && o.etag ? { IfMatch: o.etag } : {}),
        // S3 sends checksums for whole objects only; the SDK then checks them as the body streams.
        ...(asked.ranged ? { Range: `bytes=${asked.from}-${asked.to}` } : { ChecksumMode: 'ENABLED' }),
      }),
      { abortSignal: o.signal },
    );
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (ifMatch && (e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412)) {
      throw new ModelSyncError('integrity', `${where} changed while it was read (its ETag is no longer ${o.etag}); run again`, { cause: err });
    }
    throw s3Error(err, 'downloading', o.bucket, o.key);
  }
  const body = res.Body as Readable | undefined;
  if (o.etag && res.ETag && res.ETag !== o.etag) {
    body?.destroy();
    throw new ModelSyncError('integrity', `${where} changed while it was downloaded (ETag ${o.etag} became ${res.ETag}); run fetch again`);
  }
  try {
    checkAnswer(res, asked, o.size, wherePart);
  } catch (err) {
    body?.destroy();
    throw err;
  }
  return res;
}

/** Which bytes are on disk: per part, and the offset below which all of them are. */
class WrittenPrefix {
  private readonly bytes: number[];
  private waiters: Array<() => void> = [];
  /** The first part not completely written. */
  head = 0;

  constructor(private readonly parts: Part[]) {
    this.bytes = parts.map(() => 0);
  }

  /** Part `index` has its first `bytes` on disk; returns the offset below which all bytes are. */
  set(index: number, bytes: number): number {
    this.bytes[index] = bytes;
    const before = this.head;
    while (this.head < this.parts.length && this.bytes[this.head] === this.parts[this.head]!.length) this.head++;
    if (this.head !== before) this.wake();
    return this.offset();
  }

  offset(): number {
    const part = this.parts[this.head];
    return part ? part.start + this.bytes[this.head]! : this.parts.reduce((n, p) => n + p.length, 0);
  }

  of(index: number): number {
    return this.bytes[index]!;
  }

  perPart(): readonly number[] {
    return this.bytes;
  }

  advanced(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** sha256 (and the MD5 when asked) over the object's bytes in order. */
interface Hashing {
  /** A batch just written (in order only when the object is one part). */
  wrote(batch: Buffer[]): void;
  /** Every byte below `to` is on disk. */
  advance(to: number): void;
  /** The ETag is no MD5 after all (SSE-KMS, SSE-C): stop spending CPU on it. */
  dropMd5(): void;
  digest(size: number): Promise<{ sha256: string; md5?: string }>;
  close(): Promise<void>;
}

class InlineHashing implements Hashing {
  private readonly hash = createHash('sha256');
  private md5: Hash | undefined;

  constructor(withMd5: boolean) {
    this.md5 = withMd5 ? createHash('md5') : undefined;
  }

  wrote(batch: Buffer[]): void {
    for (const chunk of batch) {
      this.hash.update(chunk);
      this.md5?.update(chunk);
    }
  }

  advance(): void {}

  dropMd5(): void {
    this.md5 = undefined;
  }

  async digest(): Promise<{ sha256: string; md5?: string }> {
    return { sha256: this.hash.digest('hex'), ...(this.md5 ? { md5: this.md5.digest('hex') } : {}) };
  }

  async close(): Promise<void> {}
}

class FileHashing implements Hashing {
  private readonly hasher: FileHasher;

  constructor(file: string, withMd5: boolean) {
    this.hasher = new FileHasher(file, withMd5);
  }

  wrote(): void {}

  advance(to: number): void {
    this.hasher.advance(to);
  }

  dropMd5(): void {
    this.hasher.dropMd5();
  }

  digest(size: number): Promise<{ sha256: string; md5?: string }> {
    return this.hasher.digest(size);
  }

  close(): Promise<void> {
    return this.hasher.close();
  }
}
