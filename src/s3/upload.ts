// Uploads files to S3 keys: objects already present with the same size are skipped (HeadObject),
// so a re-run after a crash only sends what is missing. Large files go as multipart uploads
// (lib-storage Upload), small files (one part or less) `concurrency` at a time. Large files go one
// at a time with `concurrency` parts each, or, with `largeFilesInParallel` (bodies streamed from a
// source, whose one connection per file is the limit), up to `concurrency` files sharing that many
// parts. Each body is opened only when its upload starts and must hold exactly `size` bytes.
import type { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, HeadObjectCommand, type CreateMultipartUploadCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../util/progress.js';
import { forEachLimit } from '../util/concurrency.js';
import { exactLength } from '../util/exact-length.js';
import { s3Error } from './errors.js';

const MiB = 1024 * 1024;
/** Multipart part size (S3's minimum is 5 MiB); files up to one part go as a single PUT. */
export const UPLOAD_PART_SIZE = 16 * MiB;

export interface UploadItem {
  key: string;
  size: number;
  /** Names the body in an error ("model file \"a.bin\""). */
  what: string;
  /** The body, opened when its upload starts (never for a skipped key); destroyed once it ends. */
  open(signal?: AbortSignal): Promise<Readable>;
}

/** One multipart upload the server has opened: what AbortMultipartUpload needs. */
export interface MultipartUpload {
  bucket: string;
  key: string;
  uploadId: string;
}

export interface UploadOptions {
  client: S3Client;
  bucket: string;
  concurrency: number;
  progress?: Progress;
  log: Logger;
  /** Aborted: no new request starts and the upload in progress rejects at once (the caller cleans up). */
  signal?: AbortSignal;
  /**
   * Told when a multipart upload has been opened (awaited before its first part goes out, so that a
   * record of it can be written first), and when the upload of a key has ended without a stop:
   * completed, or failed and aborted by lib-storage (leavePartsOnError: false).
   */
  multipart?: { opened: (u: MultipartUpload) => Promise<void>; ended: (key: string) => Promise<void> };
  /** Several large files at once (see the top of this file); off, one at a time. */
  largeFilesInParallel?: boolean;
}

export async function uploadFiles(items: UploadItem[], opts: UploadOptions): Promise<{ uploaded: number; skipped: number; bytes: number }> {
  let uploaded = 0;
  let skipped = 0;
  let bytes = 0;
  const one = async (item: UploadItem, partConcurrency: number) => {
    if ((await remoteSize(opts, item.key)) === item.size) {
      opts.log.info({ key: item.key, size: item.size }, 'already present with the same size, skipping');
      opts.progress?.add(item.size);
      skipped++;
      return;
    }
    await putFile(opts, item, partConcurrency);
    uploaded++;
    bytes += item.size;
  };
  const small = items.filter((i) => i.size <= UPLOAD_PART_SIZE);
  const large = items.filter((i) => i.size > UPLOAD_PART_SIZE);
  const unwatch = opts.multipart ? watchMultipartUploads(opts.client, opts.multipart.opened) : () => undefined;
  try {
    await forEachLimit(small, opts.concurrency, (item) => one(item, 1));
    // Parts in flight stay at concurrency x part size either way (files at once x parts per file),
    // plus the part each file in flight is filling.
    const filesAtOnce = opts.largeFilesInParallel ? Math.max(1, Math.min(opts.concurrency, large.length)) : 1;
    await forEachLimit(large, filesAtOnce, (item) => one(item, Math.max(1, Math.floor(opts.concurrency / filesAtOnce))));
  } finally {
    unwatch();
  }
  return { uploaded, skipped, bytes };
}

let watchers = 0;

/**
 * Calls `opened` with each multipart upload the server opens through `client`, before lib-storage
 * (which keeps the upload id to itself) sends the first part.
 */
function watchMultipartUploads(client: S3Client, opened: (u: MultipartUpload) => Promise<void>): () => void {
  const name = `model-sync-multipart-watch-${++watchers}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === 'CreateMultipartUploadCommand') {
        const input = args.input as { Bucket?: string; Key?: string };
        const uploadId = (result.output as CreateMultipartUploadCommandOutput).UploadId;
        if (input.Bucket && input.Key && uploadId) {
          try {
            await opened({ bucket: input.Bucket, key: input.Key, uploadId });
          } catch (err) {
            // Not recorded (a full disk): lib-storage never learns the id, so abort it here.
            await client.send(new AbortMultipartUploadCommand({ Bucket: input.Bucket, Key: input.Key, UploadId: uploadId })).catch(() => undefined);
            throw err;
          }
        }
      }
      return result;
    },
    { step: 'initialize', name },
  );
  return () => {
    client.middlewareStack.remove(name);
  };
}

async function remoteSize(opts: UploadOptions, key: string): Promise<number | undefined> {
  try {
    const head = await opts.client.send(new HeadObjectCommand({ Bucket: opts.bucket, Key: key }), { abortSignal: opts.signal });
    return head.ContentLength;
  } catch (err) {
    const mapped = s3Error(err, 'checking', opts.bucket, key);
    if (mapped.kind === 'notFound' && (err as { name?: string }).name !== 'NoSuchBucket') return undefined;
    throw mapped;
  }
}

/**
 * One file as a single PUT or a multipart upload. Not wrapped in a retry loop: the SDK retries
 * each request (the PUT, each part, create and complete) with our policy (s3/client.ts), so a
 * failed part is sent again alone rather than the whole file.
 */
async function putFile(opts: UploadOptions, item: UploadItem, partConcurrency: number): Promise<void> {
  opts.signal?.throwIfAborted();
  const source = await item.open(opts.signal);
  const body = sizedBody(source, item.size, item.what);
  let sent = 0;
  const abortController = new AbortController();
  const stop = () => abortController.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  const upload = new Upload({
    client: opts.client,
    params: { Bucket: opts.bucket, Key: item.key, Body: body, ContentLength: item.size },
    partSize: UPLOAD_PART_SIZE,
    queueSize: partConcurrency,
    leavePartsOnError: false,
    // Aborted, done() rejects at once and no new part starts; the parts in flight and the
    // AbortMultipartUpload are the caller's (lib-storage would abort only after they finish).
    abortController,
  });
  upload.on('httpUploadProgress', (p) => {
    if (p.loaded !== undefined && p.loaded > sent) {
      opts.progress?.add(p.loaded - sent);
      sent = p.loaded;
    }
  });
  try {
    await upload.done();
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    await opts.multipart?.ended(item.key);
    throw s3Error(err, 'uploading', opts.bucket, item.key);
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    // lib-storage stops reading a body it gave up on without closing it (a file handle, a source connection).
    body.destroy();
    source.destroy();
  }
  await opts.multipart?.ended(item.key);
}

/**
 * `source` held to `size` bytes (integrity otherwise): lib-storage would otherwise complete a
 * multipart upload of whatever arrived, or send a PUT whose body disagrees with its Content-Length.
 * Failing before the last part is handed over leaves no object, and lib-storage aborts the
 * multipart upload.
 */
function sizedBody(source: Readable, size: number, what: string): Readable {
  const mismatch = (got: string) => new ModelSyncError('integrity', `${what} gave ${got} bytes where ${size} were expected; its upload was abandoned`);
  return exactLength(source, size, { more: () => mismatch(`more than ${size}`), fewer: (got) => mismatch(String(got)) });
}
