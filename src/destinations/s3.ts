// Push destination `s3`: the files of model/ (as listed in the inventory) under a key prefix.
// A file is read only when, with every link followed, it is a regular file inside model/: all are
// checked before the first upload, and each is read through a handle opened and checked again
// (openInside), so that a link planted or swapped in after fetch never sends a host file.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { messageOf, ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import { s3Error } from '../s3/errors.js';
import { abortMultipartUpload, listMultipartUploads } from '../s3/multipart.js';
import { uploadFiles, type MultipartUpload, type UploadItem } from '../s3/upload.js';
import { Progress } from '../util/progress.js';
import type { Shutdown } from '../util/shutdown.js';
import { readRecord, removeRecord, writeRecord, type OpenMultipartUpload } from '../workspace/records.js';
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
  /** The run's stop: uploads end on its signal, and the open multipart uploads are aborted. */
  stop?: Pick<Shutdown, 'signal' | 'onStop'>;
}

export async function pushToS3(ctx: S3PushContext, settings: S3Settings): Promise<S3PushResult> {
  const inventory = await readRecord(ctx.workspace, 'inventory');
  if (!inventory) {
    throw new ModelSyncError('precondition', `no inventory in ${ctx.workspace.stateDir}: run fetch first (same --storage-path)`);
  }
  const modelDir = ctx.workspace.modelDir;
  const items = inventory.files.map((f) => {
    const file = safeJoin(modelDir, f.path, `inventory entry "${f.path}"`);
    const what = `model file "${f.path}"`;
    // Opened again when its upload starts, through a handle checked once more (a link swapped in later).
    return { path: f.path, size: f.size, what, file, open: async () => (await openInside(modelDir, file, what)).createReadStream() };
  });
  for (const item of items) await (await openInside(modelDir, item.file, item.what)).close();
  return uploadToS3(ctx, settings, items, { totalBytes: inventory.totalBytes, line: 'uploading model files to S3' });
}

/** One object to write under the prefix: its path below it, and its body. */
export interface S3Object {
  path: string;
  size: number;
  what: string;
  open(signal?: AbortSignal): Promise<Readable>;
}

export interface UploadPlan {
  totalBytes: number;
  /** The log line that starts the upload. */
  line: string;
  /** Large bodies several at once (streamed sources), see s3/upload.ts. */
  largeFilesInParallel?: boolean;
}

/**
 * The upload both push paths share: keys under the prefix, stale uploads aborted first, each
 * multipart upload recorded in s3-uploads.json before its first part and aborted on stop, a key
 * already holding an object of the same size skipped (s3/upload.ts).
 */
export async function uploadToS3(ctx: S3PushContext, settings: S3Settings, objects: readonly S3Object[], plan: UploadPlan): Promise<S3PushResult> {
  const prefix = settings.key.replace(/^\/+|\/+$/g, '');
  const uri = `s3://${settings.bucket}/${prefix}`;
  const items: UploadItem[] = objects.map((o) => ({ key: prefix ? `${prefix}/${o.path}` : o.path, size: o.size, what: o.what, open: (signal) => o.open(signal) }));
  const client = createS3Client(settings, ctx.concurrency, ctx.network);
  const progress = new Progress(ctx.log, `push ${uri}`, plan.totalBytes, ctx.progressIntervalSeconds);
  const open = new OpenUploads(ctx, settings);
  const unregister = ctx.stop?.onStop({ what: `the upload to ${uri}`, run: () => open.abortOnStop(client) });
  try {
    await abortStaleUploads(ctx, settings, client, prefix, new Set(items.map((i) => i.key)));
    ctx.log.info({ uri, files: items.length, bytes: plan.totalBytes, endpoint: settings.endpoint }, plan.line);
    const r = await uploadFiles(items, {
      client,
      bucket: settings.bucket,
      concurrency: ctx.concurrency,
      progress,
      log: ctx.log,
      ...(ctx.stop ? { signal: ctx.stop.signal } : {}),
      multipart: { opened: (u) => open.add(u), ended: (key) => open.remove(key) },
      ...(plan.largeFilesInParallel ? { largeFilesInParallel: true } : {}),
    });
    return { uri, files: items.length, bytes: r.bytes, skipped: r.skipped };
  } finally {
    unregister?.();
    progress.finish();
    // Stopped, the stop action owns the client (it ends the parts in flight with it).
    if (!ctx.stop?.signal.aborted) client.destroy();
  }
}

/**
 * The multipart uploads this push has open, mirrored in `s3-uploads.json` before each one's first
 * part, so that a push killed outright leaves a trace for the next one.
 */
class OpenUploads {
  private readonly open = new Map<string, OpenMultipartUpload>();
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: S3PushContext,
    private readonly settings: S3Settings,
  ) {}

  add(u: MultipartUpload): Promise<void> {
    this.open.set(u.key, { ...u, opened: new Date().toISOString() });
    return this.save();
  }

  remove(key: string): Promise<void> {
    if (!this.open.delete(key)) return Promise.resolve();
    return this.save();
  }

  /** On stop: ends the parts in flight (they would be sent again), then aborts each open upload. */
  async abortOnStop(client: S3Client): Promise<string> {
    client.destroy();
    const uploads = [...this.open.values()];
    if (!uploads.length) return `the upload to s3://${this.settings.bucket} stopped with no multipart upload open (the files uploaded so far stay; a re-run skips them)`;
    const cleanup = createS3Client(this.settings, 1, this.ctx.network);
    try {
      const aborted: string[] = [];
      for (const u of uploads) {
        await abortMultipartUpload(cleanup, u);
        this.open.delete(u.key);
        aborted.push(`s3://${u.bucket}/${u.key} (upload id ${u.uploadId})`);
      }
      await this.save();
      return `aborted the multipart upload of ${aborted.join(', ')}`;
    } finally {
      cleanup.destroy();
    }
  }

  private save(): Promise<void> {
    const uploads = [...this.open.values()];
    const write = () =>
      uploads.length ? writeRecord(this.ctx.workspace, 's3-uploads', { endpoint: this.settings.endpoint ?? '', uploads }) : removeRecord(this.ctx.workspace, 's3-uploads');
    this.saving = this.saving.then(write, write);
    return this.saving;
  }
}

/**
 * Before the first upload: aborts the multipart uploads an earlier push left open, those it
 * recorded (same endpoint and bucket) and any open on a key this push is about to upload (a push
 * killed before its record was written). Other uploads under the prefix are not this job's to
 * touch. Best effort: a store that refuses the listing (no s3:ListBucketMultipartUploads) gets a
 * warning (one that does not implement it, an info line), and the push goes on.
 */
async function abortStaleUploads(ctx: S3PushContext, settings: S3Settings, client: S3Client, prefix: string, keys: Set<string>): Promise<void> {
  const recorded = await readRecord(ctx.workspace, 's3-uploads');
  const stale = new Map<string, MultipartUpload & { initiated?: Date | string }>();
  if (recorded && recorded.endpoint === (settings.endpoint ?? '')) {
    for (const u of recorded.uploads) if (u.bucket === settings.bucket) stale.set(u.uploadId, { ...u, initiated: u.opened });
  }
  try {
    for (const u of await listMultipartUploads(client, settings.bucket, prefix ? `${prefix}/` : '')) {
      if (keys.has(u.key)) stale.set(u.uploadId, u);
    }
  } catch (err) {
    // A server without the call (s3rver answers 501) is not a fault worth a warning on every push.
    const unsupported = (err as { name?: string }).name === 'NotImplemented';
    const line = 'could not list the open multipart uploads under the prefix; uploads an earlier push left open (if any) stay';
    if (unsupported) ctx.log.info({ bucket: settings.bucket, prefix, reason: messageOf(err) }, line);
    else ctx.log.warn({ bucket: settings.bucket, prefix, reason: messageOf(err) }, line);
  }
  for (const u of stale.values()) {
    try {
      const wasOpen = await abortMultipartUpload(client, u);
      if (wasOpen) ctx.log.warn({ bucket: u.bucket, key: u.key, uploadId: u.uploadId, initiated: u.initiated }, 'aborted a multipart upload an earlier push left open');
    } catch (err) {
      ctx.log.warn({ bucket: u.bucket, key: u.key, uploadId: u.uploadId, reason: messageOf(err) }, 'could not abort a multipart upload an earlier push left open');
    }
  }
  if (recorded) await removeRecord(ctx.workspace, 's3-uploads');
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
      await abortMultipartUpload(client, { bucket: settings.bucket, key, uploadId });
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
