// Preflight's check of the whole path, before Model Registry is asked (nothing is set to PENDING)
// and before any model byte moves: the source exists and is readable, the destination accepts
// this job's credentials for a push, the base image resolves, and the workspace volume has room
// for what this run writes. Each failure keeps its own kind (auth 4, notFound 5, noSpace 8,
// config 2, transient 10) and its one line names the setting to fix.
import type { PathSettingNames, SideSettingNames } from '../config/settings.js';
import { probeBaseImage, probeOciDestination } from '../destinations/probe-oci.js';
import { probeS3Destination } from '../destinations/s3.js';
import { ModelSyncError } from '../errors.js';
import { probeOciSource } from '../sources/oci.js';
import { probeUriSource } from '../sources/probe.js';
import type { SourceProbe } from '../sources/probe-types.js';
import { probeS3Source } from '../sources/s3.js';
import { ensureRoom, type Needed } from '../workspace/disk.js';
import { hasPatterns, pathMatcher } from '../util/fnmatch.js';
import type { StepContext } from './types.js';

const MiB = 1024 * 1024;
/**
 * Room kept free beyond the listed bytes: the step records, the temp file a download is written
 * to before its rename, the image layout's manifests and configs, and file system overhead. 5% of
 * the bytes, at least 64 MiB.
 */
export const ROOM_MARGIN_MIN_BYTES = 64 * MiB;
export const ROOM_MARGIN_FRACTION = 0.05;

export function withMargin(bytes: number): number {
  return bytes + Math.max(ROOM_MARGIN_MIN_BYTES, Math.ceil(bytes * ROOM_MARGIN_FRACTION));
}

export interface PathReport {
  source: string;
  files: number;
  /** What the workspace must hold, margin included. */
  neededBytes: number;
}

export async function checkWholePath(ctx: StepContext): Promise<PathReport> {
  const { settings, log, workspace } = ctx;
  const names = settings.pathSettingNames();
  const network = settings.network();
  const patterns = settings.sourcePatterns();
  const probeCtx = { workspace, log, network, ...(hasPatterns(patterns) ? { keeps: pathMatcher(patterns) } : {}) };

  // 1. The source: exists, readable with the source credentials, and its listed size.
  const source = settings.source();
  let probe: SourceProbe;
  if (source.type === 's3') probe = await naming(probeS3Source(probeCtx, source.s3), s3Names(names.source));
  else if (source.type === 'oci') probe = await naming(probeOciSource(probeCtx, source.image), { auth: names.source.ociCredentials, notFound: source.image.setting });
  else probe = await naming(probeUriSource(probeCtx, source.uri), { auth: source.uri.setting, notFound: source.uri.setting });
  log.info({ source: probe.label, files: probe.files, bytes: probe.needed.bytes }, 'preflight: the source is readable');

  // 2. Room for the model, a local check before the destination's servers are asked.
  let needed = await roomFor(ctx, probe.needed, 0);

  // 3. The destination accepts a push with this job's credentials; 4. the base image resolves.
  const destination = settings.destinationType() ? settings.destination() : undefined;
  let baseBytes = 0;
  if (destination?.type === 's3') {
    await naming(probeS3Destination(probeCtx, destination.s3), s3Names(names.destination));
    log.info({ bucket: destination.s3.bucket, key: destination.s3.key }, 'preflight: the destination accepts writes');
  } else if (destination?.type === 'oci') {
    await naming(probeOciDestination(probeCtx, destination.image), { auth: names.destination.ociCredentials, notFound: destination.image.setting });
    log.info({ destination: destination.image.reference }, 'preflight: the destination accepts a push');
    // A ModelPack-only artifact has no base image.
    if (settings.ociOutput().format !== 'modelpack') {
      const base = settings.baseImage();
      baseBytes = await naming(probeBaseImage(probeCtx, base), { auth: names.baseImageCredentials, notFound: base.setting, prefix: `base image ${base.reference}` });
      log.info({ base: base.reference, bytes: baseBytes }, 'preflight: the base image resolves');
    }
  }

  // 5. Room again, with the base image package copies into image/.
  if (baseBytes > 0) needed = await roomFor(ctx, probe.needed, baseBytes);
  return { source: probe.label, files: probe.files, neededBytes: needed };
}

/**
 * Room for what this run writes into the workspace: the model (every source goes through model/
 * today) and, for an OCI destination, the base image that package copies into image/ (the model
 * layers are made from model/ on the fly and take no room of their own), plus the margin. A
 * streaming `all` needs room for the base image only.
 */
async function roomFor(ctx: StepContext, listed: Needed, baseBytes: number): Promise<number> {
  // A streaming `all` writes no model file (should the source turn out to need staging after all,
  // fetch checks the room again before its first byte).
  const streaming = ctx.streaming?.() ?? false;
  const model = streaming ? { bytes: 0 } : listed;
  const written = model.bytes + baseBytes;
  const bytes = written > 0 ? withMargin(written) : 0;
  ctx.log.info({ model: model.bytes, base: baseBytes, needed: bytes, ...(streaming ? { streaming: true } : {}) }, 'preflight: checking the workspace has room');
  await ensureRoom(ctx.workspace.volume, { bytes, ...(model.atLeast ? { atLeast: true } : {}) });
  return bytes;
}

function s3Names(side: SideSettingNames): Naming {
  return { auth: side.s3Credentials, notFound: `${side.bucket} and ${side.key}` };
}

interface Naming {
  /** What holds the credentials, named on an auth failure. */
  auth: string;
  /** What names the object, image or bucket, named when it is missing. */
  notFound: string;
  /** What the failure is about, when the error does not say it. */
  prefix?: string;
}

/** Adds the setting to fix to an auth or notFound error's line (other kinds name theirs already). */
async function naming<T>(work: Promise<T>, names: Naming): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof ModelSyncError)) throw err;
    let setting = err.kind === 'auth' ? names.auth : err.kind === 'notFound' ? names.notFound : undefined;
    // A message that already names one of these settings (the S3 client names a refused key) keeps its own words.
    if (setting && (setting.match(/--[a-z0-9-]+/g) ?? []).some((flag) => err.message.includes(flag))) setting = undefined;
    const text = `${names.prefix ? `${names.prefix}: ` : ''}${err.message}`;
    if (!setting && !names.prefix) throw err;
    throw new ModelSyncError(err.kind, setting ? `${text}; check ${setting}` : text, { cause: err });
  }
}
