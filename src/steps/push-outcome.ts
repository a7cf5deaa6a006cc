// What push, the streaming all and the scale-out steps share about a push's outcome: the old
// result dropped before a new push, and the S3 upload context and record.
import type { S3PushContext, S3PushResult } from '../destinations/s3.js';
import { removeRecord, writeRecord } from '../workspace/records.js';
import type { Workspace } from '../workspace/workspace.js';
import type { StepContext } from './types.js';

/** An old result must not outlive a push that fails now (register would take it). */
export async function dropPushResult(workspace: Workspace): Promise<void> {
  await removeRecord(workspace, 'push');
  await workspace.clearResults(['model-uri', 'image-digest']);
}

/** What an S3 upload needs of the step (push, and the streaming all). */
export function s3PushContext(ctx: StepContext): S3PushContext {
  const { settings } = ctx;
  return {
    workspace: ctx.workspace,
    log: ctx.log,
    concurrency: settings.pushConcurrency(),
    progressIntervalSeconds: settings.progressIntervalSeconds,
    network: settings.network(),
    stop: ctx.stop,
  };
}

/** push.json of an upload to S3. */
export function recordS3Push(ctx: StepContext, target: string, r: S3PushResult): Promise<void> {
  return writeRecord(ctx.workspace, 'push', {
    destination: 's3',
    target,
    uri: r.uri,
    files: r.files,
    bytes: r.bytes,
    skipped: r.skipped,
    finished: new Date().toISOString(),
    settings: ctx.settings.snapshot(),
  });
}
