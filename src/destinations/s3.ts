// Push destination `s3`: the files of model/ (as listed in the inventory) under a key prefix.
// A file is read only when, with every link followed, it is a regular file inside model/: all are
// checked before the first upload, and each is read through a handle opened and checked again
// (openInside), so that a link planted or swapped in after fetch never sends a host file.
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import { s3Error } from '../s3/errors.js';
import { uploadFiles, type UploadItem } from '../s3/upload.js';
import { Progress } from '../util/progress.js';
import { readRecord } from '../workspace/records.js';
import { openInside, safeJoin } from '../workspace/safe-path.js';
import type { Workspace } from '../workspace/workspace.js';

export interface S3PushResult {
  uri: string;
  files: number;
  bytes: number;
  skipped: number;
}

export interface S3PushContext {
  workspace: Workspace;
  log: Logger;
  /** Files (or parts of one large file) uploaded at once; at least 1 (config/ checks). */
  concurrency: number;
  progressIntervalSeconds: number;
  network: NetworkSettings;
}

/** Files held open at once while they are uploaded (well below the usual limit of 1024). */
const OPEN_FILES = 64;

/** A name of the opened file itself: reading it cannot be redirected by a link swapped in later. */
function handlePath(handle: FileHandle): string {
  return `/dev/fd/${handle.fd}`;
}

export async function pushToS3(ctx: S3PushContext, settings: S3Settings): Promise<S3PushResult> {
  const inventory = await readRecord(ctx.workspace, 'inventory');
  if (!inventory) {
    throw new ModelSyncError('precondition', `no inventory in ${ctx.workspace.stateDir}: run fetch first (same --storage-path)`);
  }
  const prefix = settings.key.replace(/^\/+|\/+$/g, '');
  const uri = `s3://${settings.bucket}/${prefix}`;
  const concurrency = ctx.concurrency;
  const items = inventory.files.map((f) => ({
    file: safeJoin(ctx.workspace.modelDir, f.path, `inventory entry "${f.path}"`),
    key: prefix ? `${prefix}/${f.path}` : f.path,
    size: f.size,
    what: `model file "${f.path}"`,
  }));
  for (const item of items) await (await openInside(ctx.workspace.modelDir, item.file, item.what)).close();
  const client = createS3Client(settings, concurrency, ctx.network);
  const progress = new Progress(ctx.log, `push ${uri}`, inventory.totalBytes, ctx.progressIntervalSeconds);
  try {
    ctx.log.info({ uri, files: items.length, bytes: inventory.totalBytes, endpoint: settings.endpoint }, 'uploading model files to S3');
    let bytes = 0;
    let skipped = 0;
    for (let i = 0; i < items.length; i += OPEN_FILES) {
      const batch = items.slice(i, i + OPEN_FILES);
      const handles: FileHandle[] = [];
      try {
        for (const item of batch) handles.push(await openInside(ctx.workspace.modelDir, item.file, item.what));
        const opened: UploadItem[] = batch.map((item, j) => ({ file: handlePath(handles[j]!), key: item.key, size: item.size }));
        const r = await uploadFiles(opened, { client, bucket: settings.bucket, concurrency, progress, log: ctx.log });
        bytes += r.bytes;
        skipped += r.skipped;
      } finally {
        await Promise.all(handles.map((h) => h.close()));
      }
    }
    return { uri, files: items.length, bytes, skipped };
  } finally {
    progress.finish();
    client.destroy();
  }
}

/**
 * For preflight: whether this job's credentials may write under the key prefix, leaving nothing
 * behind. A PutObject would leave an object (and deleting it needs s3:DeleteObject, which a
 * push-only policy may lack); a multipart upload that is started and then aborted needs only the
 * write permission, and writes no object. If the abort fails, the upload id is logged: a bucket
 * lifecycle rule for incomplete uploads removes it.
 */
export async function probeS3Destination(ctx: { log: Logger; network: NetworkSettings }, settings: S3Settings): Promise<void> {
  const prefix = settings.key.replace(/^\/+|\/+$/g, '');
  const key = `${prefix ? `${prefix}/` : ''}.model-sync-preflight-${randomBytes(6).toString('hex')}`;
  const client = createS3Client(settings, 1, ctx.network);
  try {
    let uploadId: string | undefined;
    try {
      uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: settings.bucket, Key: key }))).UploadId;
    } catch (err) {
      throw s3Error(err, 'writing to', settings.bucket, prefix);
    }
    if (!uploadId) return;
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: settings.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const fields = { bucket: settings.bucket, key, uploadId, err: (err as Error).message };
      // A server without abort (405/501, such as s3rver) has no upload to clean up either.
      if (status === 405 || status === 501) ctx.log.info(fields, 'preflight: the S3 server does not abort multipart uploads (no object was written)');
      else ctx.log.warn(fields, 'preflight: could not abort its test multipart upload (no object was written)');
    }
  } finally {
    client.destroy();
  }
}
