// pullToLayout and pushLayout, the calls package and push make: copy() between a target opened
// for the reference (registry or `oci:<dir>[:tag]`) and the workspace layout, plus their log lines.
import { ConfigError, ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { copy } from './copy.js';
import type { ImageGraph } from './graph.js';
import type { OciLayout } from './layout.js';
import { openTarget, type TargetOptions } from './open-target.js';
import { rootDescriptor, type OciTarget } from './target.js';
import { parseImageReference, type ImageReference } from './reference.js';
import { LayoutTarget } from './target-layout.js';
import { RegistryTarget } from './target-registry.js';
import type { Descriptor } from './types.js';
import { blobSessionKey, type UploadSessions } from './upload-sessions.js';

export interface PullOptions {
  /** `registry/repo[:tag][@digest]`, or `oci:<dir>[:tag]` for a local image layout. */
  reference: string;
  layout: OciLayout;
  credentials?: TargetOptions['credentials'];
  tlsVerify: boolean;
  tlsSetting?: string;
  trust?: TargetOptions['trust'];
  log: Logger;
  progressIntervalSeconds?: number;
  /** Blobs downloaded at once (default 4). */
  concurrency?: number;
  /** The step's timeouts and retry attempts, for a registry. */
  network?: TargetOptions['network'];
  /** Retry policy of the registry client (tests shorten it). */
  retry?: { attempts?: number; baseDelayMs?: number };
}

/**
 * Copies the whole image (index, every platform manifest, configs and layers) into `layout`,
 * skipping blobs already there. Media types are left as the source has them. Returns the root
 * descriptor (an index or a manifest) as stored in the layout. Does not touch index.json.
 */
export async function pullToLayout(opts: PullOptions): Promise<Descriptor> {
  const src = openTarget(opts.reference, { credentials: opts.credentials, tlsVerify: opts.tlsVerify, tlsSetting: opts.tlsSetting, trust: opts.trust, log: opts.log, operation: 'pull', network: opts.network, retry: opts.retry });
  try {
    const root = await src.resolve();
    const r = await copy(src, new LayoutTarget(opts.layout), root, { log: opts.log, label: `pull ${src.label}`, concurrency: opts.concurrency, progressIntervalSeconds: opts.progressIntervalSeconds });
    opts.log.info(
      { source: src.label, digest: root.digest, manifests: r.manifests, blobsDownloaded: r.blobsCopied, blobsSkipped: r.blobsSkipped, bytes: r.bytes, seconds: r.seconds },
      `pulled ${src.label}: ${r.blobsCopied} blobs downloaded, ${r.blobsSkipped} already present`,
    );
    return root;
  } finally {
    src.close();
  }
}

export interface PushOptions {
  layout: OciLayout;
  /** The root to push (an index or a manifest present in the layout). */
  root: Descriptor;
  /** `registry/repo:tag`, or `oci:<dir>[:tag]` for a local image layout. */
  reference: string;
  credentials?: TargetOptions['credentials'];
  tlsVerify: boolean;
  tlsSetting?: string;
  trust?: TargetOptions['trust'];
  concurrency: number;
  log: Logger;
  progressIntervalSeconds?: number;
  /**
   * An image (the base) whose blobs the destination registry may hold in another repository:
   * they are mounted from there instead of uploaded.
   */
  mountFromImage?: string;
  /** Blobs above this size go up in PATCH chunks of chunkSize (defaults: 1 GiB, 256 MiB). */
  chunkThreshold?: number;
  chunkSize?: number;
  /** The step's timeouts and retry attempts, for a registry. */
  network?: TargetOptions['network'];
  /** Retry policy of the registry client (tests shorten it). */
  retry?: { attempts?: number; baseDelayMs?: number };
  /** The run's stop: requests end, open upload sessions are deleted. */
  stop?: TargetOptions['stop'];
  /**
   * Digests of blobs the destination already holds (a streaming run put them there) that the
   * layout lacks: the layout is not asked for them, but the destination must have them.
   */
  presentInDestination?: ReadonlySet<string>;
  /** Chunked uploads record their sessions here, and a re-run continues them (upload-sessions.ts). */
  sessions?: UploadSessions;
}

export interface PushResult {
  /** `oci://registry/repo:tag` */
  uri: string;
  digest: string;
  blobsUploaded: number;
  blobsSkipped: number;
  bytesUploaded: number;
}

/** HEAD-then-upload of every blob, manifests after their blobs, the root last under the tag. */
export async function pushLayout(opts: PushOptions): Promise<PushResult> {
  const src = new LayoutTarget(opts.layout);
  const dst = openTarget(opts.reference, {
    credentials: opts.credentials,
    tlsVerify: opts.tlsVerify,
    tlsSetting: opts.tlsSetting,
    trust: opts.trust,
    log: opts.log,
    operation: 'push',
    maxSockets: Math.max(8, opts.concurrency * 2),
    network: opts.network,
    retry: opts.retry,
    chunkThreshold: opts.chunkThreshold,
    chunkSize: opts.chunkSize,
    stop: opts.stop,
  });
  if (dst instanceof RegistryTarget) dst.recordSessions(opts.sessions);
  try {
    if (dst.digest && dst.digest !== opts.root.digest) {
      throw new ConfigError(`cannot push to ${dst.label}: the reference pins ${dst.digest} but the image is ${opts.root.digest}`);
    }
    const tag = dst.tag ?? 'latest';
    const subject = dst.reference(tag);
    let blobs: readonly Descriptor[] = [];
    const r = await copy(src, dst, rootDescriptor(opts.root), {
      log: opts.log,
      label: `push ${subject}`,
      tag,
      concurrency: opts.concurrency,
      progressIntervalSeconds: opts.progressIntervalSeconds,
      mountFrom: dst instanceof RegistryTarget ? mountRepositories(dst.ref, opts.mountFromImage) : undefined,
      beforeTransfer: (graph) => {
        blobs = graph.blobs;
        return assertBlobsPresent(src, dst, graph, opts.presentInDestination);
      },
    });
    // An entry of a blob that is stored now (a run killed between its last PUT and the record) goes.
    for (const blob of blobs) await opts.sessions?.delete(blobSessionKey(blob.digest));
    opts.log.info(
      { destination: subject, digest: r.digest, blobsUploaded: r.blobsCopied, blobsSkipped: r.blobsSkipped, blobsMounted: r.blobsMounted, manifestsPut: r.manifestsCopied, bytesUploaded: r.bytes, seconds: r.seconds, ...dst.logFields?.() },
      `pushed ${subject}: uploaded ${r.blobsCopied} blobs, skipped ${r.blobsSkipped} already present${r.blobsMounted ? ` (${r.blobsMounted} mounted)` : ''}`,
    );
    return { uri: dst.uri(tag), digest: r.digest, blobsUploaded: r.blobsCopied, blobsSkipped: r.blobsSkipped, bytesUploaded: r.bytes };
  } finally {
    dst.close();
  }
}

/** The repository of `image` when it lives on the destination's registry, in another repository. */
function mountRepositories(destination: ImageReference, image: string | undefined): string[] | undefined {
  if (!image) return undefined;
  try {
    const base = parseImageReference(image);
    return base.registry === destination.registry && base.repository !== destination.repository ? [base.repository] : undefined;
  } catch {
    return undefined; // a layout or an unparsable reference: nothing to mount from
  }
}

/**
 * Push needs every blob of the packaged image before it uploads any: in the layout, or for those
 * named `inDestination` (streamed there), in the destination.
 */
async function assertBlobsPresent(src: LayoutTarget, dst: OciTarget, graph: ImageGraph, inDestination: ReadonlySet<string> = new Set()): Promise<void> {
  for (const blob of graph.blobs) {
    if (inDestination.has(blob.digest) && !(await src.exists(blob))) {
      if (!(await dst.exists(blob))) {
        throw new ModelSyncError('precondition', `${dst.label} lacks blob ${blob.digest} (${blob.size} bytes), which was to be streamed there before the image was pushed; run the streaming push again`);
      }
      continue;
    }
    if (!(await src.exists(blob))) {
      throw new ModelSyncError('precondition', `image layout ${src.layout.dir} lacks blob ${blob.digest} (${blob.size} bytes) referenced by the image; run package again`);
    }
  }
}
