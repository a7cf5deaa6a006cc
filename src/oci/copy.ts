// The one graph walk that copies an image between any two targets (after oras.Copy): blobs the
// destination lacks (mounted when it can), then child manifests, the root last (under a tag when asked).
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { forEachLimit } from '../util/concurrency.js';
import { Progress } from '../util/progress.js';
import { walkGraph, type ImageGraph } from './graph.js';
import { manifestMediaType, type OciTarget } from './target.js';
import type { Descriptor } from './types.js';

export interface CopyOptions {
  log: Logger;
  /** Names the copy in progress lines: `push quay.io/org/model:v1`. */
  label: string;
  /** Puts the root under this tag; without one only its digest is stored. */
  tag?: string;
  /** Blobs transferred at once (default 4). */
  concurrency?: number;
  progressIntervalSeconds?: number;
  /** Repositories of the destination's registry to mount missing blobs from before uploading them. */
  mountFrom?: readonly string[];
  /** Runs after the walk, before anything is transferred (a check that the source is complete). */
  beforeTransfer?: (graph: ImageGraph) => Promise<void>;
}

export interface CopyResult {
  digest: string;
  manifests: number;
  manifestsCopied: number;
  /** Blobs transferred; skipped counts those present or mounted (mounted also in blobsMounted). */
  blobsCopied: number;
  blobsSkipped: number;
  blobsMounted: number;
  bytes: number;
  seconds: number;
}

export async function copy(src: OciTarget, dst: OciTarget, root: Descriptor, opts: CopyOptions): Promise<CopyResult> {
  const concurrency = opts.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`${opts.label}: concurrency must be at least 1, got ${concurrency}`);
  // Manifests the destination has are read from it when it is local and the source is not: a
  // re-pull then GETs only the root (registries such as Docker Hub count manifest GETs).
  const present = new Set<string>();
  const graph = await walkGraph(root, async (d) => {
    if (d.digest !== root.digest && dst.local && !src.local && (await dst.exists(d))) {
      present.add(d.digest);
      return dst.fetchManifest(d);
    }
    return src.fetchManifest(d);
  });
  await opts.beforeTransfer?.(graph);

  let blobsCopied = 0;
  let blobsSkipped = 0;
  let blobsMounted = 0;
  const progress = new Progress(opts.log, opts.label, graph.blobs.reduce((n, b) => n + b.size, 0), opts.progressIntervalSeconds ?? 0);
  try {
    await forEachLimit(graph.blobs, concurrency, async (blob) => {
      let have = await dst.exists(blob);
      if (!have && (await mount(dst, blob, opts.mountFrom))) {
        have = true;
        blobsMounted++;
      }
      if (have) {
        blobsSkipped++;
        progress.addTotal(-blob.size);
        return;
      }
      await dst.pushBlob(blob, (range) => src.openBlob(blob, range), { onBytes: (n) => progress.add(n) });
      blobsCopied++;
    });
    // Child manifests by digest (those the destination lacks), after their blobs; the root last.
    let manifestsCopied = 0;
    const manifests = graph.manifests.map((m) => ({ descriptor: { ...m.descriptor, mediaType: manifestMediaType(m.descriptor, m.bytes) }, bytes: m.bytes }));
    const top = manifests.pop()!;
    for (const { descriptor, bytes } of manifests) {
      if (present.has(descriptor.digest) || (await dst.exists(descriptor))) continue;
      await dst.pushManifest(descriptor, bytes);
      manifestsCopied++;
    }
    let digest = top.descriptor.digest;
    if (opts.tag || !(await dst.exists(top.descriptor))) {
      digest = await dst.pushManifest(top.descriptor, top.bytes, opts.tag);
      manifestsCopied++;
    }
    const { bytes, seconds } = progress.finish();
    return { digest, manifests: graph.manifests.length, manifestsCopied, blobsCopied, blobsSkipped, blobsMounted, bytes, seconds };
  } finally {
    progress.finish();
  }
}

async function mount(dst: OciTarget, blob: Descriptor, from: readonly string[] = []): Promise<boolean> {
  for (const repository of from) if (await dst.mountBlob?.(blob, repository)) return true;
  return false;
}
