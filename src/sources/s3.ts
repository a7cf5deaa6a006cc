// Fetch source `s3`: a key prefix (a folder, all objects below it) or a single object.
import { rm } from 'node:fs/promises';
import { isNoSpace, ModelSyncError } from '../errors.js';
import type { Inventory } from '../workspace/records.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import { downloadObject, type RangedTuning } from '../s3/download.js';
import { s3Uri } from '../s3/errors.js';
import { listS3Source } from '../s3/list.js';
import { discardPartial } from '../s3/partial.js';
import { forEachLimit, Limiter } from '../util/concurrency.js';
import { readRecord } from '../workspace/records.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { isRecordedComplete, withSession, type FetchContext, type SourceIdentity } from './session.js';

export async function fetchFromS3(ctx: FetchContext, settings: S3Settings, tuning: RangedTuning): Promise<Inventory> {
  const source = s3Uri(settings.bucket, settings.key);
  return withSession(ctx, source, async (session) => {
    const client = createS3Client(settings, session.concurrency, ctx.network);
    try {
      ctx.log.info({ source, endpoint: settings.endpoint, region: settings.region }, 'listing S3 source');
      const listing = await listS3Source(client, settings.bucket, settings.key, ctx.workspace.modelDir);
      const objects = session.paths.keep(listing.objects, (o) => o.relative, source, ctx.log);
      const total = objects.reduce((n, o) => n + o.size, 0);
      ctx.log.info({ kind: listing.kind, files: objects.length, bytes: total }, `found ${objects.length} object(s)`);
      // The listing knows every size: refuse a model that cannot fit before any body is read.
      let needed = 0;
      for (const o of objects) {
        if (!(await session.isComplete(o.relative, identityOf(o)))) needed += o.size;
      }
      await session.ensureRoom(needed);
      const progress = session.progress(`fetch ${source}`, total);
      const requests = new Limiter(session.concurrency);
      try {
        await forEachLimit(objects, session.concurrency, async (o) => {
          const identity = identityOf(o);
          if (await session.completed(o.relative, identity)) {
            progress.add(o.size);
            return;
          }
          const what = `S3 object ${s3Uri(settings.bucket, o.key)}`;
          const target = await session.target(o.relative, what);
          // A large object downloads into a kept partial file that a run after a kill resumes.
          const ranged = o.size > tuning.threshold && o.etag !== undefined;
          const partial = ranged ? await session.partialPaths(o.relative) : undefined;
          const temp = partial?.file ?? session.tempPath(o.relative);
          try {
            const { sha256, size } = await downloadObject({
              client,
              bucket: settings.bucket,
              key: o.key,
              size: o.size,
              ...(o.etag ? { etag: o.etag } : {}),
              file: temp,
              requests,
              tuning,
              progress,
              log: ctx.log,
              attempts: ctx.network.retryAttempts,
              ...(ctx.signal ? { signal: ctx.signal } : {}),
              ...(partial ? { partialRecord: partial.record } : {}),
            });
            await session.commit(temp, target, { path: o.relative, size, sha256 }, identity);
            ctx.log.debug({ key: o.key, path: o.relative, size }, 'downloaded');
          } catch (err) {
            // Bytes that arrived intact are kept for the next run, unless they are the problem
            // (integrity) or hold the room a re-run with more space needs (noSpace).
            if (partial && !(err instanceof ModelSyncError && (err.kind === 'integrity' || err.kind === 'noSpace' || err.kind === 'internal')) && !isNoSpace(err)) throw err;
            if (partial) await discardPartial(partial.file, partial.record);
            else await rm(temp, { force: true });
            throw err;
          }
        });
      } finally {
        progress.report();
        progress.finish();
      }
    } finally {
      client.destroy();
    }
  });
}

/** What identifies one version of a listed object, as fetch records it. */
export function identityOf(o: { size: number; etag?: string | undefined }): SourceIdentity {
  return { size: o.size, ...(o.etag ? { etag: o.etag } : {}) };
}

/**
 * For preflight: the source exists and this job's credentials may read it (the listing of the
 * prefix, or a HEAD of the single object, through list.ts as fetch does), and what fetch would
 * still download (the listed sizes minus files complete from an earlier run of this source).
 * Reads no object body.
 */
export async function probeS3Source(ctx: SourceProbeContext, settings: S3Settings): Promise<SourceProbe> {
  const source = s3Uri(settings.bucket, settings.key);
  const client = createS3Client(settings, 1, ctx.network);
  try {
    const listing = await listS3Source(client, settings.bucket, settings.key, ctx.workspace.modelDir);
    const record = await readRecord(ctx.workspace, 'fetch');
    const previous = record?.source === source ? record : undefined;
    let needed = 0;
    for (const o of listing.objects) {
      if (!(await isRecordedComplete(ctx.workspace, previous, o.relative, identityOf(o)))) needed += o.size;
    }
    return { label: source, files: listing.objects.length, needed: { bytes: needed } };
  } finally {
    client.destroy();
  }
}
