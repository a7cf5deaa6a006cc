// The source of plan and push --part (scale-out, docs/scale-out.md): listed file by file as the
// streaming `all` lists it, or refused in one line when it cannot be (an OCI source, an archive,
// a file of unknown size): the parts stage nothing, so only `all` can take such a source.
import { ModelSyncError } from '../errors.js';
import type { RangedTuning } from '../s3/download.js';
import { openStreamSource, type StreamSource } from '../sources/stream-source.js';
import type { StepContext } from './types.js';

export interface PartSourceOptions {
  /** Connections to the source (S3 client sockets). */
  concurrency: number;
  /** Ranged reads of large S3 objects (push --part); plan reads no byte. */
  tuning: RangedTuning;
}

// An archive is never streamed (openStreamSource answers "stage"), so no archive is expanded on
// this path and no limit applies: these refuse any expansion should that ever change.
const NO_ARCHIVE = { maxRatio: 1, maxBytes: 0, ratioSetting: 'archive-max-ratio', bytesSetting: 'archive-max-bytes' };

/** The source, listed; `what` names the command in the refusal ("plan", "push --part"). */
export async function openPartSource(ctx: StepContext, what: string, opts: PartSourceOptions): Promise<StreamSource> {
  const { settings } = ctx;
  const refuse = (reason: string): never => {
    throw new ModelSyncError('precondition', `${what} needs a source it can read file by file, and ${reason}: move this model with all, which stages it on the volume`);
  };
  // Before source(): an OCI source's own settings are not this step's.
  if (settings.sourceType() === 'oci') refuse(`${settings.sourceTypeSetting()} is oci (an OCI source's files sit inside its tar layers)`);
  const patterns = settings.sourcePatterns();
  const choice = await openStreamSource(
    {
      workspace: ctx.workspace,
      log: ctx.log,
      concurrency: opts.concurrency,
      progressIntervalSeconds: settings.progressIntervalSeconds,
      network: settings.network(),
      archiveLimits: NO_ARCHIVE,
      ...(patterns ? { patterns } : {}),
      signal: ctx.stop.signal,
    },
    settings.source(),
    opts.tuning,
  );
  if (choice.kind === 'stage') return refuse(`this one cannot be: ${choice.reason}`);
  return choice.source;
}

/**
 * A source identity as JSON with sorted keys and no undefined fields: the plan carries it through
 * JSON, the listing makes it anew, and the two must compare equal when the file has not changed.
 */
export function canonicalIdentity(identity: object): string {
  const o = identity as Record<string, unknown>;
  return JSON.stringify(Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
