// Copies images between a registry (or a local `oci:<dir>[:tag]` layout) and an OCI image layout.
// The signatures are what package and push rely on.
import { ConfigError, ModelSyncError } from '../errors.js';
import type { RegistryCredentials } from '../config/dockerconfig.js';
import type { Logger } from '../log.js';
import { forEachLimit } from '../util/concurrency.js';
import { Progress } from '../util/progress.js';
import { RegistryClient, retryBrokenDownload } from './registry-client.js';
import { walkGraph, type ImageGraph } from './graph.js';
import { OciLayout, sha256Digest } from './layout.js';
import { MT } from './media-types.js';
import { formatReference, manifestReference, parseImageLocation, type ImageReference } from './reference.js';
import type { Descriptor } from './types.js';

export interface PullOptions {
  /** `registry/repo[:tag][@digest]`, or `oci:<dir>[:tag]` for a local image layout. */
  reference: string;
  layout: OciLayout;
  credentials?: RegistryCredentials;
  tlsVerify: boolean;
  log: Logger;
  progressIntervalSeconds?: number;
  /** Blobs downloaded at once (default 4). */
  concurrency?: number;
  /** Retry policy of the registry client (tests shorten it). */
  retry?: { attempts?: number; baseDelayMs?: number };
}

/**
 * Copies the whole image (index, every platform manifest, configs and layers) into `layout`,
 * skipping blobs already there. Media types are left as the source has them. Returns the root
 * descriptor (an index or a manifest) as stored in the layout. Does not touch index.json.
 */
export async function pullToLayout(opts: PullOptions): Promise<Descriptor> {
  const location = parseImageLocation(opts.reference);
  await opts.layout.init();
  if (location.kind === 'layout') {
    const source = new OciLayout(location.dir);
    const root = await resolveLayoutRoot(source, location.tag, opts.reference);
    const graph = await walkGraph(root, (d) => readLayoutManifest(source, d, opts.reference));
    const stats = await copyGraph(source, opts.layout, graph, opts.reference, opts.log, opts.progressIntervalSeconds ?? 0);
    opts.log.info({ source: opts.reference, ...stats }, `pulled ${opts.reference}: ${stats.blobsCopied} blobs copied, ${stats.blobsSkipped} already present`);
    return rootDescriptor(root);
  }

  const ref = location.ref;
  const subject = formatReference(ref);
  const client = new RegistryClient(ref, { credentials: opts.credentials, tlsVerify: opts.tlsVerify, log: opts.log, operation: 'pull', retry: opts.retry });
  try {
    const top = await client.getManifest(ref.repository, manifestReference(ref));
    const root: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    // Manifests are small: fetch each (or take it from the layout), store it, then the blobs.
    const graph = await walkGraph(root, async (d) => {
      if (d.digest === root.digest) {
        await opts.layout.writeBlobBytes(top.bytes, top.mediaType);
        return top.bytes;
      }
      if (await opts.layout.hasBlob(d.digest, d.size)) return opts.layout.readBlob(d.digest);
      const m = await client.getManifest(ref.repository, d.digest);
      await opts.layout.writeBlobBytes(m.bytes, m.mediaType);
      return m.bytes;
    });
    const missing: Descriptor[] = [];
    for (const blob of graph.blobs) if (!(await opts.layout.hasBlob(blob.digest, blob.size))) missing.push(blob);
    const progress = new Progress(opts.log, `pull ${subject}`, missing.reduce((n, b) => n + b.size, 0), opts.progressIntervalSeconds ?? 0);
    await forEachLimit(missing, opts.concurrency ?? 4, async (blob) => {
      await retryBrokenDownload(async () => {
        const { stream } = await client.openBlob(ref.repository, blob.digest);
        stream.on('data', (chunk: Buffer) => progress.add(chunk.length));
        await opts.layout.writeBlobStream(stream, { digest: blob.digest, size: blob.size }).catch((err: unknown) => {
          throw err instanceof ModelSyncError ? new ModelSyncError(err.kind, `cannot pull ${subject}: ${err.message}`) : err;
        });
      });
    });
    const { bytes, seconds } = progress.finish();
    opts.log.info(
      { source: subject, digest: root.digest, manifests: graph.manifests.length, blobsDownloaded: missing.length, blobsSkipped: graph.blobs.length - missing.length, bytes, seconds },
      `pulled ${subject}: ${missing.length} blobs downloaded, ${graph.blobs.length - missing.length} already present`,
    );
    return root;
  } finally {
    client.close();
  }
}

export interface PushOptions {
  layout: OciLayout;
  /** The root to push (an index or a manifest present in the layout). */
  root: Descriptor;
  /** `registry/repo:tag`, or `oci:<dir>[:tag]` for a local image layout. */
  reference: string;
  credentials?: RegistryCredentials;
  tlsVerify: boolean;
  concurrency: number;
  log: Logger;
  progressIntervalSeconds?: number;
  /** Repositories of the same registry to mount missing blobs from before uploading them. */
  mountFrom?: string[];
  /** Blobs above this size go up in PATCH chunks of chunkSize (defaults: 1 GiB, 256 MiB). */
  chunkThreshold?: number;
  chunkSize?: number;
  /** Retry policy of the registry client (tests shorten it). */
  retry?: { attempts?: number; baseDelayMs?: number };
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
  const location = parseImageLocation(opts.reference);
  const graph = await walkGraph(opts.root, (d) => readLayoutManifest(opts.layout, d, opts.layout.dir));
  await assertBlobsPresent(opts.layout, graph);

  if (location.kind === 'layout') {
    const target = await new OciLayout(location.dir).init();
    const stats = await copyGraph(opts.layout, target, graph, `oci:${location.dir}`, opts.log, opts.progressIntervalSeconds ?? 0);
    const tag = location.tag ?? 'latest';
    await target.tag(tag, rootDescriptor(opts.root));
    opts.log.info({ destination: opts.reference, digest: opts.root.digest, ...stats }, `pushed to oci:${location.dir}:${tag}: ${stats.blobsCopied} blobs copied, ${stats.blobsSkipped} already present`);
    return { uri: `oci:${location.dir}:${tag}`, digest: opts.root.digest, blobsUploaded: stats.blobsCopied, blobsSkipped: stats.blobsSkipped, bytesUploaded: stats.bytesCopied };
  }

  const ref = location.ref;
  if (ref.digest && ref.digest !== opts.root.digest) {
    throw new ConfigError(`cannot push to ${formatReference(ref)}: the reference pins ${ref.digest} but the image is ${opts.root.digest}`);
  }
  if (opts.concurrency < 1) throw new ConfigError(`push concurrency must be at least 1, got ${opts.concurrency}`);
  const tag = ref.tag ?? 'latest';
  const target: ImageReference = { ...ref, tag, digest: undefined };
  const subject = formatReference(target);
  const client = new RegistryClient(target, {
    credentials: opts.credentials,
    tlsVerify: opts.tlsVerify,
    log: opts.log,
    push: true,
    maxSockets: Math.max(8, opts.concurrency * 2),
    retry: opts.retry,
  });
  const repo = ref.repository;
  let uploaded = 0;
  let skipped = 0;
  let mounted = 0;
  const progress = new Progress(opts.log, `push ${subject}`, graph.blobs.reduce((n, b) => n + b.size, 0), opts.progressIntervalSeconds ?? 0);
  try {
    await forEachLimit(graph.blobs, opts.concurrency, async (blob) => {
      if ((await client.headBlob(repo, blob.digest)) !== undefined) {
        skipped++;
        progress.addTotal(-blob.size);
        return;
      }
      for (const from of opts.mountFrom ?? []) {
        if (from !== repo && (await client.mountBlob(repo, blob.digest, from).catch(() => false))) {
          mounted++;
          skipped++;
          progress.addTotal(-blob.size);
          return;
        }
      }
      await client.uploadBlob(repo, blob.digest, blob.size, (start, end) => opts.layout.readBlobStream(blob.digest, start === undefined ? undefined : { start, end: end ?? blob.size - 1 }), {
        chunkThreshold: opts.chunkThreshold,
        chunkSize: opts.chunkSize,
        onBytes: (n) => progress.add(n),
      });
      uploaded++;
    });
    // Child manifests by digest (those the registry lacks), then the root under the tag.
    let manifestsPut = 0;
    for (const { descriptor, bytes } of graph.manifests.slice(0, -1)) {
      if (await client.headManifest(repo, descriptor.digest)) continue;
      await client.putManifest(repo, descriptor.digest, bytes, manifestMediaType(descriptor, bytes));
      manifestsPut++;
    }
    const root = graph.manifests[graph.manifests.length - 1]!;
    const digest = await client.putManifest(repo, tag, root.bytes, manifestMediaType(root.descriptor, root.bytes));
    manifestsPut++;
    const { bytes, seconds } = progress.finish();
    opts.log.info(
      { destination: subject, digest, blobsUploaded: uploaded, blobsSkipped: skipped, blobsMounted: mounted, manifestsPut, bytesUploaded: bytes, seconds, tokens: client.auth.tokensObtained },
      `pushed ${subject}: uploaded ${uploaded} blobs, skipped ${skipped} already present${mounted ? ` (${mounted} mounted)` : ''}`,
    );
    return { uri: `oci://${subject}`, digest, blobsUploaded: uploaded, blobsSkipped: skipped, bytesUploaded: bytes };
  } finally {
    progress.finish();
    client.close();
  }
}

function manifestMediaType(d: Descriptor, bytes: Buffer): string {
  const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
  return doc.mediaType || d.mediaType || (Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest);
}

function rootDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

async function readLayoutManifest(layout: OciLayout, d: Descriptor, label: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await layout.readBlob(d.digest);
  } catch {
    throw new ModelSyncError('precondition', `image layout ${label} lacks manifest ${d.digest}`);
  }
  if (sha256Digest(bytes) !== d.digest) throw new ModelSyncError('integrity', `image layout ${label}: manifest ${d.digest} does not match its digest`);
  return bytes;
}

async function resolveLayoutRoot(layout: OciLayout, tag: string | undefined, label: string): Promise<Descriptor> {
  const root = tag ? await layout.resolveTag(tag) : ((await layout.resolveTag()) ?? (await layout.resolveTag('latest')));
  if (!root) throw new ModelSyncError('notFound', `image layout ${label}: ${tag ? `no image tagged "${tag}"` : 'no single image (name a tag, oci:<dir>:<tag>)'} in ${layout.dir}/index.json`);
  return root;
}

async function assertBlobsPresent(layout: OciLayout, graph: ImageGraph): Promise<void> {
  for (const blob of graph.blobs) {
    if (!(await layout.hasBlob(blob.digest, blob.size))) {
      throw new ModelSyncError('precondition', `image layout ${layout.dir} lacks blob ${blob.digest} (${blob.size} bytes) referenced by the image; run package again`);
    }
  }
}

/** Copies manifests and blobs of `graph` between layouts, digest verified, skipping present ones. */
async function copyGraph(from: OciLayout, to: OciLayout, graph: ImageGraph, label: string, log: Logger, interval: number) {
  let blobsCopied = 0;
  let blobsSkipped = 0;
  const all: Descriptor[] = [...graph.blobs, ...graph.manifests.map((m) => m.descriptor)];
  const progress = new Progress(log, `copy ${label}`, 0, interval);
  await forEachLimit(all, 4, async (d) => {
    if (await to.hasBlob(d.digest, d.size)) {
      blobsSkipped++;
      return;
    }
    progress.addTotal(d.size);
    const stream = from.readBlobStream(d.digest);
    stream.on('data', (chunk: Buffer) => progress.add(chunk.length));
    await to.writeBlobStream(stream, { digest: d.digest, size: d.size });
    blobsCopied++;
  });
  const { bytes } = progress.finish();
  return { blobsCopied, blobsSkipped, bytesCopied: bytes };
}
