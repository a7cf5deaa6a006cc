// Fetch source `oci`: an image (a modelcar: files under models/) or a ModelPack-style artifact
// (application/vnd.cncf.model.* or vnd.cnai.model.* layers), from a registry or a local
// `oci:<dir>[:tag]` layout. Layers stream straight into model/ (no second copy on disk): each is
// digest-verified before its files are renamed into place, and a re-run skips layers whose files
// are all still complete.
import { ModelSyncError } from '../errors.js';
import { digestVerifier, retryBrokenDownload } from '../oci/registry-client.js';
import { parseManifestDocument, platformName } from '../oci/graph.js';
import { artifactNames, commitLayer, discardLayer, extractRawLayer, extractTarLayer, modelcarNames, type PendingLayer } from './oci-layers.js';
import { endpointAccess, type ImageEndpoint } from '../oci/credentials.js';
import { ANNOTATION, MT } from '../oci/media-types.js';
import { openTarget } from '../oci/open-target.js';
import { MODEL_ROOT_IN_IMAGE } from '../oci/tar-layer.js';
import type { OciTarget } from '../oci/target.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/types.js';
import { readRecord, writeRecord, type Inventory, type OciLayersRecord } from '../workspace/records.js';
import { ArchiveLinks } from './archive-links.js';
import { forEachLimit } from '../util/concurrency.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { isRecordedComplete, withSession, type FetchContext, type FetchSession } from './session.js';


const IMAGE_LAYER_TYPES = new Set<string>([MT.ociLayerTar, MT.ociLayerTarGzip, MT.dockerLayerTarGzip, 'application/vnd.docker.image.rootfs.diff.tar']);
const MODELPACK_LAYER = /^application\/vnd\.(?:cncf|cnai)\.model\.[a-z.]+\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$/;

/** Node's process.arch as OCI platform architecture. */
export function ociArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  return map[arch] ?? arch;
}

/** The machine's platform from an index (linux/<arch>); else the first runnable entry; else any. */
export function pickPlatform(index: ImageIndex, arch = ociArchitecture()): Descriptor | undefined {
  const entries = index.manifests ?? [];
  const usable = entries.filter(
    (d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && !(d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown'),
  );
  return usable.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch) ?? usable[0] ?? entries[0];
}

export async function fetchFromOci(ctx: FetchContext, image: ImageEndpoint): Promise<Inventory> {
  const source = openSource(ctx, image);
  try {
    return await withSession(ctx, source.label, (session) => fetchImage(ctx, session, source));
  } finally {
    source.close();
  }
}

/**
 * For preflight: the source image resolves with the source credentials (its manifest, through
 * indexes to the machine's platform, as fetch chooses), its layers are ones fetch can read, and
 * what fetch would write into model/ (the layer sizes; a lower bound when layers are compressed).
 * Reads no layer.
 */
export async function probeOciSource(ctx: SourceProbeContext, image: ImageEndpoint): Promise<SourceProbe> {
  const source = openSource(ctx, image);
  try {
    const { manifest } = await resolveManifest(source, ctx.log);
    const plan = planLayers(manifest, source.label);
    // Layers whose files are all complete from an earlier fetch of this source are skipped, as fetch skips them.
    const layers = await readRecord(ctx.workspace, 'fetch-oci');
    const files = await readRecord(ctx.workspace, 'fetch');
    const previous = layers?.source === source.label ? layers : undefined;
    const previousFiles = files?.source === source.label ? files : undefined;
    const todo: LayerPlan[] = [];
    for (const p of plan) {
      const done = previous?.layers[p.key];
      let complete = !!done && !done.links;
      for (const f of done?.files ?? []) {
        if (!complete) break;
        complete = await isRecordedComplete(ctx.workspace, previousFiles, f.path, { size: f.size, etag: p.layer.digest });
      }
      if (!complete) todo.push(p);
    }
    const bytes = todo.reduce((n, p) => n + bytesOnDisk(p), 0);
    return { label: source.label, files: plan.length, needed: { bytes, ...(todo.some((p) => isCompressed(p.layer)) ? { atLeast: true } : {}) } };
  } finally {
    source.close();
  }
}

/** Where manifests and blobs come from: a registry or a local image layout. */
function openSource(ctx: { network: FetchContext['network']; log: FetchContext['log'] }, image: ImageEndpoint): OciTarget {
  return openTarget(image.reference, {
    what: image.setting,
    ...endpointAccess(image),
    network: ctx.network,
    log: ctx.log,
    operation: 'fetch',
  });
}

/** Follows indexes down to one manifest, choosing the machine's platform. */
async function resolveManifest(source: OciTarget, log: FetchContext['log']): Promise<{ manifest: ImageManifest; digest: string }> {
  let descriptor = await source.resolve();
  let bytes = await source.fetchManifest(descriptor);
  for (let depth = 0; depth < 4; depth++) {
    const parsed = parseManifestDocument(bytes, `${source.label} (${descriptor.digest})`);
    if (parsed.kind === 'manifest') return { manifest: parsed.doc, digest: descriptor.digest };
    const chosen = pickPlatform(parsed.doc);
    if (!chosen) throw new ModelSyncError('notFound', `cannot fetch ${source.label}: its index lists no manifests`);
    log.info({ platform: platformName(chosen), digest: chosen.digest, of: parsed.doc.manifests.length }, `fetching platform ${platformName(chosen)} of ${source.label}`);
    descriptor = chosen;
    bytes = await source.fetchManifest(chosen);
  }
  throw new ModelSyncError('precondition', `cannot fetch ${source.label}: indexes nested too deeply`);
}

/** A raw layer's `file` is its path in model/; its record key adds it, as two files may have one content. */
type LayerPlan = { layer: Descriptor; key: string } & ({ kind: 'modelcar' | 'tar' } | { kind: 'raw'; file: string });

function planLayers(manifest: ImageManifest, label: string): LayerPlan[] {
  const layers = manifest.layers ?? [];
  const isModelPack =
    manifest.artifactType === MT.modelpackManifestArtifact ||
    manifest.config?.mediaType === MT.modelpackConfig ||
    /^application\/vnd\.cnai\.model\./.test(manifest.config?.mediaType ?? '') ||
    layers.some((l) => MODELPACK_LAYER.test(l.mediaType));
  // The ModelPack manifest of a `both` image describes the modelcar's layers: entries under models/.
  const underModels = manifest.annotations?.[ANNOTATION.modelpackEntriesUnder] === `${MODEL_ROOT_IN_IMAGE}/`;
  const plan: LayerPlan[] = [];
  for (const layer of layers) {
    if (isModelPack) {
      const m = MODELPACK_LAYER.exec(layer.mediaType);
      if (!m) continue; // not a model file layer
      if (m[1] === 'tar+zstd') throw new ModelSyncError('precondition', `cannot fetch ${label}: layer ${layer.digest} is zstd-compressed (${layer.mediaType}), which this Node version cannot read`);
      if (m[1] === 'raw') {
        const file = rawFileName(layer, label);
        plan.push({ layer, kind: 'raw', key: `${layer.digest} ${file}`, file });
      } else {
        plan.push({ layer, kind: underModels ? 'modelcar' : 'tar', key: layer.digest });
      }
    } else if (IMAGE_LAYER_TYPES.has(layer.mediaType)) {
      plan.push({ layer, kind: 'modelcar', key: layer.digest });
    } else if (layer.mediaType.endsWith('+zstd')) {
      throw new ModelSyncError('precondition', `cannot fetch ${label}: layer ${layer.digest} is zstd-compressed (${layer.mediaType}), which this Node version cannot read`);
    } else if (layer.mediaType !== MT.ociEmpty) {
      throw new ModelSyncError('precondition', `cannot fetch ${label}: layer ${layer.digest} has the unsupported media type ${layer.mediaType}`);
    }
  }
  if (plan.length === 0) throw new ModelSyncError('notFound', `cannot fetch ${label}: the ${isModelPack ? 'artifact has no model layers' : 'image has no layers'}`);
  return plan;
}

function rawFileName(layer: Descriptor, label: string): string {
  const a = layer.annotations ?? {};
  const name = a[ANNOTATION.modelpackFilepath] ?? a[ANNOTATION.modelpackFilepathLegacy] ?? a[ANNOTATION.title];
  if (!name) throw new ModelSyncError('precondition', `cannot fetch ${label}: raw layer ${layer.digest} has no ${ANNOTATION.modelpackFilepath} or ${ANNOTATION.title} annotation naming its file`);
  return name;
}

async function fetchImage(ctx: FetchContext, session: FetchSession, source: OciTarget): Promise<void> {
  const { manifest, digest } = await resolveManifest(source, ctx.log);
  // A raw layer is one file: one the patterns leave out is never downloaded.
  const plan = planLayers(manifest, source.label).filter((p) => p.kind !== 'raw' || session.paths.keeps(p.file, ctx.log));
  const previous = await readRecord(ctx.workspace, 'fetch-oci');
  const record: OciLayersRecord = previous?.source === source.label ? previous : { source: source.label, layers: {} };

  // Layers whose files are all still complete from an earlier run are not downloaded again.
  const todo: LayerPlan[] = [];
  for (const p of plan) {
    const done = record.layers[p.key];
    let complete = !!done && !done.links; // a base layer with no model files counts as done too
    for (const f of done?.files ?? []) {
      if (!complete) break;
      complete = (await session.completed(f.path, { size: f.size, etag: p.layer.digest })) !== undefined;
    }
    if (!complete) todo.push(p);
  }
  ctx.log.info({ manifest: digest, layers: plan.length, toDownload: todo.length }, `fetching ${todo.length} of ${plan.length} layers of ${source.label}`);
  await session.ensureRoom(todo.reduce((n, p) => n + bytesOnDisk(p), 0), { atLeast: todo.some((p) => isCompressed(p.layer)) });

  const progress = session.progress(`fetch ${source.label}`, todo.reduce((n, p) => n + p.layer.size, 0));
  const links = new ArchiveLinks(session);
  // Layers download in parallel but commit in manifest order, so a later layer's file wins.
  const gates = todo.map(() => {
    let open!: () => void;
    const p = new Promise<void>((resolve) => (open = resolve));
    return { p, open };
  });
  let aborted = false;
  try {
    await forEachLimit(todo, session.concurrency, async (p, i) => {
      const what = `layer ${p.layer.digest} of ${source.label}`;
      let pending: PendingLayer | undefined;
      try {
        pending = await retryBrokenDownload(() => extractOne(session, source, p, what, (n) => progress.add(n)));
        if (i > 0) await gates[i - 1]!.p;
        if (aborted) throw new ModelSyncError('internal', 'aborted');
        const produced = { files: pending.files.map((f) => ({ path: f.rel, size: f.size })), links: pending.links.length > 0 };
        await commitLayer(session, links, pending, p.layer.digest, what);
        pending = undefined;
        record.layers[p.key] = produced;
        await writeRecord(ctx.workspace, 'fetch-oci', record);
      } catch (err) {
        aborted = true;
        if (pending) await discardLayer(pending);
        throw err;
      } finally {
        gates[i]!.open();
      }
    });
  } finally {
    progress.finish();
  }
  links.addToInventory();
  session.paths.report(session.entryCount(), source.label, ctx.log);
  if (session.entryCount() === 0) {
    throw new ModelSyncError('notFound', `cannot fetch ${source.label}: no model files found (a modelcar keeps them under /models/)`);
  }
}

/**
 * What a layer at least writes into model/, from the manifest alone: an uncompressed layer its
 * size (tar headers included); a compressed artifact layer its size too, as a lower bound; a
 * compressed image layer nothing, since it may be a base layer without model files.
 */
function bytesOnDisk(p: LayerPlan): number {
  return isCompressed(p.layer) && p.kind === 'modelcar' ? 0 : p.layer.size;
}

function isCompressed(layer: Descriptor): boolean {
  return /gzip|zstd/.test(layer.mediaType);
}

async function extractOne(session: FetchSession, source: OciTarget, p: LayerPlan, what: string, onBytes: (n: number) => void): Promise<PendingLayer> {
  const blob = await source.openBlob(p.layer);
  const verified = blob.pipe(digestVerifier({ digest: p.layer.digest, size: p.layer.size }, `cannot fetch ${what}`));
  blob.on('error', (err) => verified.destroy(err));
  if (p.kind === 'raw') return extractRawLayer(session, verified, p.file, what, onBytes);
  return extractTarLayer(session, verified, p.kind === 'modelcar' ? modelcarNames : artifactNames, what, onBytes);
}
