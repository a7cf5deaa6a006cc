// Push destination `s3`: the files of model/ (as listed in the inventory) under a key prefix.
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import { uploadFiles } from '../s3/upload.js';
import { Progress } from '../util/progress.js';
import { readRecord } from '../workspace/records.js';
import { safeJoin } from '../workspace/safe-path.js';
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

export async function pushToS3(ctx: S3PushContext, settings: S3Settings): Promise<S3PushResult> {
  const inventory = await readRecord(ctx.workspace, 'inventory');
  if (!inventory) {
    throw new ModelSyncError('precondition', `no inventory in ${ctx.workspace.stateDir}: run fetch first (same --storage-path)`);
  }
  const prefix = settings.key.replace(/^\/+|\/+$/g, '');
  const uri = `s3://${settings.bucket}/${prefix}`;
  const concurrency = ctx.concurrency;
  const items = inventory.files.map((f) => ({
    file: safeJoin(ctx.workspace.modelDir, f.path),
    key: prefix ? `${prefix}/${f.path}` : f.path,
    size: f.size,
  }));
  const client = createS3Client(settings, concurrency, ctx.network);
  const progress = new Progress(ctx.log, `push ${uri}`, inventory.totalBytes, ctx.progressIntervalSeconds);
  try {
    ctx.log.info({ uri, files: items.length, bytes: inventory.totalBytes, endpoint: settings.endpoint }, 'uploading model files to S3');
    const r = await uploadFiles(items, { client, bucket: settings.bucket, concurrency, progress, log: ctx.log });
    return { uri, files: items.length, bytes: r.bytes, skipped: r.skipped };
  } finally {
    progress.finish();
    client.destroy();
  }
}
