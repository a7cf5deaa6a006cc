// Step push: the modelcar image layout (written by package) to an OCI registry or a local layout,
// or the model files to an S3 prefix. Re-running it uploads only what the destination lacks.
import path from 'node:path';
import { refuseSigning } from '../config/signing.js';
import { pushToS3 } from '../destinations/s3.js';
import { ModelSyncError } from '../errors.js';
import { endpointAccess, type ImageEndpoint } from '../oci/credentials.js';
import type { OciLayout } from '../oci/layout.js';
import { ModelcarLayout } from '../oci/modelcar-layout.js';
import { parseImageLocation } from '../oci/reference.js';
import { pushLayout } from '../oci/transfer.js';
import { UploadSessions } from '../oci/upload-sessions.js';
import type { Descriptor } from '../oci/types.js';
import { translatingNoSpace } from '../workspace/disk.js';
import { megabytesPerSecond } from '../util/progress.js';
import { readRecord, writeRecord, type PackageRecord } from '../workspace/records.js';
import { assertFetchComplete } from './inputs.js';
import { dropPushResult, recordS3Push, s3PushContext } from './push-outcome.js';
import type { StepContext, StepOutcome, StepRunner } from './types.js';

export const runPush: StepRunner = async (ctx) => {
  const { settings, workspace } = ctx;
  refuseSigning(settings.signing(ctx.log)); // before the old result is removed or a byte moves
  const part = settings.partSelector();
  if (part) return (await import('./push-part.js')).runPushPart(ctx, part);
  const destination = settings.destination();
  const target = settings.destinationTarget()!;
  await dropPushResult(workspace);
  await assertFetchComplete(workspace);
  if (destination.type === 's3') {
    const r = await pushToS3(s3PushContext(ctx), destination.s3);
    await recordS3Push(ctx, target, r);
    return { results: { 'model-uri': r.uri, 'image-digest': '' }, summary: { uri: r.uri, files: r.files, bytes: r.bytes, skipped: r.skipped } };
  }
  return pushImage(ctx, destination.image, target);
};

async function pushImage(ctx: StepContext, image: ImageEndpoint, target: string): Promise<StepOutcome> {
  const { settings, workspace, log } = ctx;
  const reference = image.reference;
  const concurrency = settings.pushConcurrency();

  // Model layers are made on the fly from model/ (package keeps no second copy of the model).
  const record = await readRecord(workspace, 'package');
  const layout = ModelcarLayout.fromRecord(workspace.imageDir, workspace.modelDir, record);
  const root = await packagedRoot(record, layout);
  const started = Date.now();
  // An oci:<dir> destination is a folder of its own, maybe on another volume: a full disk names it.
  const location = parseImageLocation(reference, image.setting);
  // Chunked uploads of big blobs record their sessions, so that a killed push continues them.
  const sessions = await UploadSessions.load(workspace);
  const push = () => pushLayout({
    layout,
    root,
    reference,
    ...endpointAccess(image),
    network: settings.network(),
    concurrency,
    log,
    progressIntervalSeconds: settings.progressIntervalSeconds,
    mountFromImage: record?.baseImage,
    stop: ctx.stop,
    sessions,
  });
  const result =
    location.kind === 'layout'
      ? await translatingNoSpace({ folder: path.resolve(location.dir), setting: image.setting, grow: 'give the volume of that folder more space' }, push)
      : await push();
  const seconds = (Date.now() - started) / 1000;
  await writeRecord(workspace, 'push', { destination: 'oci', target, ...result, ociFormat: record?.ociFormat ?? 'modelcar', finished: new Date().toISOString(), settings: settings.snapshot() });
  return {
    results: { 'model-uri': result.uri, 'image-digest': result.digest },
    summary: {
      uri: result.uri,
      digest: result.digest,
      blobsUploaded: result.blobsUploaded,
      blobsSkipped: result.blobsSkipped,
      bytesUploaded: result.bytesUploaded,
      MBps: megabytesPerSecond(result.bytesUploaded, seconds),
    },
  };
}

/** The image package built: from its record, else the layout's `latest` tag. */
async function packagedRoot(record: PackageRecord | undefined, layout: OciLayout): Promise<Descriptor> {
  if (record) return { mediaType: record.mediaType, digest: record.indexDigest, size: record.size };
  const tagged = await layout.resolveTag('latest').catch(() => undefined);
  if (!tagged) {
    throw new ModelSyncError('precondition', `no packaged image in ${layout.dir} (index.json has no "latest"): run package first (same --storage-path)`);
  }
  return tagged;
}
