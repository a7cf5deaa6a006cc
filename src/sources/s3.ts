// Fetch source `s3`: a key prefix (a folder, all objects below it) or a single object.
import type { Inventory } from '../workspace/records.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import type { RangedTuning } from '../s3/download.js';
import { s3Uri } from '../s3/errors.js';
import { listS3Source } from '../s3/list.js';
import { readRecord } from '../workspace/records.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { downloadListed, identityOf, isRecordedComplete, withSession, type FetchContext } from './session.js';

export { identityOf };

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
      await downloadListed(ctx, session, source, objects, tuning, (o) => `S3 object ${s3Uri(settings.bucket, o.key)}`, () => ({ client, bucket: settings.bucket }));
    } finally {
      client.destroy();
    }
  });
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
