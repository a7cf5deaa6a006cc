// Push destination `s3`: the files of model/ (as listed in the inventory) under a key prefix.
import { ModelSyncError } from '../errors.js';
import type { StepContext } from '../steps/types.js';
import { createS3Client, s3Settings } from '../s3/client.js';
import { uploadFiles } from '../s3/upload.js';
import { Progress } from '../util/progress.js';
import { readRecord } from '../workspace/records.js';
import { safeJoin } from '../workspace/safe-path.js';

export interface S3PushResult {
  uri: string;
  files: number;
  bytes: number;
  skipped: number;
}

export async function pushToS3(ctx: StepContext): Promise<S3PushResult> {
  const settings = s3Settings(ctx.config, 'destination');
  const inventory = await readRecord(ctx.workspace, 'inventory');
  if (!inventory) {
    throw new ModelSyncError('precondition', `no inventory in ${ctx.workspace.stateDir}: run fetch first (same --storage-path)`);
  }
  const prefix = settings.key.replace(/^\/+|\/+$/g, '');
  const uri = `s3://${settings.bucket}/${prefix}`;
  const concurrency = ctx.config.integer('push-concurrency');
  if (concurrency < 1) throw new ModelSyncError('config', `${ctx.config.describe('push-concurrency')} must be at least 1`);
  const items = inventory.files.map((f) => ({
    file: safeJoin(ctx.workspace.modelDir, f.path),
    key: prefix ? `${prefix}/${f.path}` : f.path,
    size: f.size,
  }));
  const client = createS3Client(settings, concurrency);
  const progress = new Progress(ctx.log, `push ${uri}`, inventory.totalBytes, ctx.config.integer('progress-interval'));
  try {
    ctx.log.info({ uri, files: items.length, bytes: inventory.totalBytes, endpoint: settings.endpoint }, 'uploading model files to S3');
    const r = await uploadFiles(items, { client, bucket: settings.bucket, concurrency, progress, log: ctx.log });
    return { uri, files: items.length, bytes: r.bytes, skipped: r.skipped };
  } finally {
    progress.finish();
    client.destroy();
  }
}
