// The KServe modelcar: the base image with the model layers (one or several files each, see
// layer-plan.ts) appended to EVERY platform manifest
// (the same layer blobs, shared), each config's rootfs.diff_ids and history extended, Docker media
// types converted to OCI (as olot does), attestation manifests kept unchanged. The new root is the
// only entry of index.json, tagged `latest`. Nothing time-dependent goes in: the same model on the
// same base always gives the same config, manifest and index digests.
import { Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseManifestDocument } from './graph.js';
import { jsonBytes, sha256Digest, type OciLayout } from './layout.js';
import { ANNOTATION, DOCKER_TO_OCI, MT, isIndexType, isManifestType } from './media-types.js';
import { isManifestDescriptor } from './target.js';
import { LayoutTarget } from './target-layout.js';
import { MODELPACK_INDEX_PLATFORM, modelcarLayerAsModelPack, modelPackConfig, modelPackManifest, type ModelPackDescription } from './modelpack.js';
import { MODEL_ROOT_IN_IMAGE } from './tar-layer.js';
import type { Descriptor, HistoryEntry, ImageConfig, ImageIndex, ImageManifest } from './types.js';

/** `created` of the history entries we add: fixed, for reproducible config digests. */
export const MODEL_LAYER_CREATED = '1970-01-01T00:00:00Z';
const IN_TOTO_LAYER = 'application/vnd.in-toto+json';
const DOCKER_ATTESTATION_ARTIFACT = 'application/vnd.docker.attestation.manifest.v1+json';

/** What buildModelcar needs of each model layer. */
export interface ModelLayer {
  digest: string;
  size: number;
  /** Its files in layer order: slash-separated paths relative to the model folder, `sha256:<hex>` of each. */
  files: ReadonlyArray<{ path: string; fileSha256: string; fileSize: number }>;
}

export interface BuildModelcarOptions {
  layout: OciLayout;
  /** Root of the base image in the layout (an index or a manifest, OCI or Docker media types). */
  base: Descriptor;
  /** In the order they are appended (package sorts them by path). */
  layers: readonly ModelLayer[];
  /** Tag of the new root in index.json (default latest). */
  tag?: string;
  /**
   * Set for --destination-oci-format both: a ModelPack manifest over the same model layers joins
   * the root index (a single-manifest base gets an index for the two).
   */
  modelpack?: ModelPackDescription;
  log?: Logger;
}

export interface ModelcarResult {
  /** The new root (index, or manifest when the base was a single manifest), tagged in index.json. */
  root: Descriptor;
  /** Platform manifests that got the model layers. */
  platforms: number;
  /** Attestation manifests left unchanged. */
  attestations: number;
  /** The ModelPack manifest in the root index (format both). */
  modelpack?: Descriptor;
}

/**
 * The layer descriptor: a one-file layer with the upstream packer's annotations; a layer of
 * several files with a short title and the list of its files (relative paths, a JSON array).
 */
export function modelLayerDescriptor(layer: ModelLayer): Descriptor {
  const descriptor = { mediaType: MT.ociLayerTar, digest: layer.digest, size: layer.size };
  if (layer.files.length === 1) {
    const file = layer.files[0]!;
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    return {
      ...descriptor,
      annotations: {
        [ANNOTATION.title]: name,
        [ANNOTATION.olotDigest]: file.fileSha256,
        [ANNOTATION.olotType]: 'file',
        [ANNOTATION.olotInLayerPath]: `/${MODEL_ROOT_IN_IMAGE}/${file.path}`,
        [ANNOTATION.olotName]: name,
      },
    };
  }
  return {
    ...descriptor,
    annotations: {
      [ANNOTATION.title]: `${MODEL_ROOT_IN_IMAGE}/ (${layer.files.length} files)`,
      [ANNOTATION.layerFiles]: JSON.stringify(layer.files.map((f) => f.path)),
    },
  };
}

export function modelHistoryEntry(layer: ModelLayer): HistoryEntry {
  const first = `/${MODEL_ROOT_IN_IMAGE}/${layer.files[0]!.path}`;
  const what = layer.files.length === 1 ? first : `${first} and ${layer.files.length - 1} more files`;
  return { created: MODEL_LAYER_CREATED, created_by: `model-sync package ${what}` };
}

/**
 * The most layers any platform manifest of the base has (attestation manifests are not run, so
 * they do not count): what the layer budget has to leave room for.
 */
export async function baseLayerCount(layout: OciLayout, base: Descriptor): Promise<number> {
  let most = 0;
  const seen = new Set<string>();
  const visit = async (d: Descriptor, depth: number): Promise<void> => {
    if (seen.has(d.digest) || depth > 4 || isAttestationEntry(d)) return;
    if (d.mediaType && !isIndexType(d.mediaType) && !isManifestType(d.mediaType)) return;
    seen.add(d.digest);
    const parsed = parseManifestDocument(await layout.readBlob(d.digest), `base image manifest ${d.digest}`);
    if (parsed.kind === 'index') {
      for (const child of parsed.doc.manifests ?? []) await visit(child, depth + 1);
    } else if (!isAttestationManifest(parsed.doc)) {
      most = Math.max(most, parsed.doc.layers?.length ?? 0);
    }
  };
  await visit(base, 0);
  return most;
}

function toOci(mediaType: string | undefined, fallback: string): string {
  if (!mediaType) return fallback;
  return DOCKER_TO_OCI[mediaType] ?? mediaType;
}

function isAttestationEntry(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || d.artifactType === DOCKER_ATTESTATION_ARTIFACT;
}

function isAttestationManifest(m: ImageManifest): boolean {
  return m.layers?.[0]?.mediaType === IN_TOTO_LAYER || m.artifactType === DOCKER_ATTESTATION_ARTIFACT;
}

/** Stores a document we made through the layout's target: manifests and indexes as manifests, configs as blobs. */
async function writeDocument(target: LayoutTarget, doc: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = jsonBytes(doc);
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  if (isManifestDescriptor(d)) await target.pushManifest(d, bytes);
  else if (!(await target.exists(d))) await target.pushBlob(d, () => Readable.from([bytes]));
  return d;
}

export async function buildModelcar(opts: BuildModelcarOptions): Promise<ModelcarResult> {
  const { layout } = opts;
  const target = new LayoutTarget(layout);
  if (opts.layers.length === 0) throw new ModelSyncError('precondition', 'the modelcar needs at least one model file (KServe requires a non-empty /models)');
  const layerDescriptors = opts.layers.map(modelLayerDescriptor);
  const history = opts.layers.map(modelHistoryEntry);
  const stats = { platforms: 0, attestations: 0 };
  // Several index entries may share a manifest: rewrite each once.
  const rewritten = new Map<string, Descriptor>();

  const readDocument = async (d: Descriptor) => {
    let bytes: Buffer;
    try {
      bytes = await layout.readBlob(d.digest);
    } catch {
      throw new ModelSyncError('precondition', `image layout ${layout.dir} lacks ${d.digest} of the base image`);
    }
    return parseManifestDocument(bytes, `base image manifest ${d.digest}`);
  };

  const rewriteManifest = async (d: Descriptor, manifest: ImageManifest): Promise<Descriptor> => {
    const configDoc = await layout.readJsonBlob<ImageConfig>(manifest.config.digest).catch(() => {
      throw new ModelSyncError('precondition', `image layout ${layout.dir} lacks config ${manifest.config.digest} of the base image`);
    });
    if (!configDoc.rootfs || !Array.isArray(configDoc.rootfs.diff_ids)) {
      throw new ModelSyncError('precondition', `base image config ${manifest.config.digest} has no rootfs.diff_ids`);
    }
    // Spreads keep every other field, in its place, so the base's settings survive unchanged.
    const config: ImageConfig = {
      ...configDoc,
      rootfs: { ...configDoc.rootfs, diff_ids: [...configDoc.rootfs.diff_ids, ...opts.layers.map((l) => l.digest)] },
      history: [...(configDoc.history ?? []), ...history],
    };
    const configDescriptor = await writeDocument(target, config, MT.ociConfig);
    const next: ImageManifest = {
      ...manifest,
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { ...manifest.config, mediaType: toOci(manifest.config.mediaType, MT.ociConfig), digest: configDescriptor.digest, size: configDescriptor.size },
      layers: [...manifest.layers.map((l) => ({ ...l, mediaType: toOci(l.mediaType, MT.ociLayerTarGzip) })), ...layerDescriptors],
    };
    stats.platforms++;
    const written = await writeDocument(target, next, MT.ociManifest);
    return { ...d, mediaType: MT.ociManifest, digest: written.digest, size: written.size };
  };

  const rewrite = async (d: Descriptor, depth: number): Promise<Descriptor> => {
    const done = rewritten.get(d.digest);
    if (done) return { ...d, mediaType: done.mediaType, digest: done.digest, size: done.size };
    if (depth > 4) throw new ModelSyncError('precondition', `base image index nesting deeper than 4 levels at ${d.digest}`);
    let result: Descriptor;
    if (d.mediaType && !isIndexType(d.mediaType) && !isManifestType(d.mediaType)) {
      result = d; // an artifact or a type we do not know: kept as it is
    } else if (isAttestationEntry(d)) {
      stats.attestations++;
      result = d;
    } else {
      const parsed = await readDocument(d);
      if (parsed.kind === 'index') {
        const manifests: Descriptor[] = [];
        for (const child of parsed.doc.manifests ?? []) manifests.push(await rewrite(child, depth + 1));
        const index: ImageIndex = { ...parsed.doc, schemaVersion: 2, mediaType: MT.ociIndex, manifests };
        const written = await writeDocument(target, index, MT.ociIndex);
        result = { ...d, mediaType: MT.ociIndex, digest: written.digest, size: written.size };
      } else if (isAttestationManifest(parsed.doc)) {
        stats.attestations++;
        result = d;
      } else {
        result = await rewriteManifest(d, parsed.doc);
      }
    }
    rewritten.set(d.digest, result);
    return result;
  };

  const newRoot = await rewrite(opts.base, 0);
  if (stats.platforms === 0) throw new ModelSyncError('precondition', `the base image ${opts.base.digest} has no image manifest to add the model to`);
  let root: Descriptor = { mediaType: newRoot.mediaType, digest: newRoot.digest, size: newRoot.size };
  let modelpack: Descriptor | undefined;
  if (opts.modelpack) {
    ({ root, modelpack } = await addModelPackManifest(target, layout, root, opts.layers, opts.modelpack));
  }
  await layout.writeIndex({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [{ ...root, annotations: { [ANNOTATION.refName]: opts.tag ?? 'latest' } }],
  });
  opts.log?.info(
    { digest: root.digest, platforms: stats.platforms, attestations: stats.attestations, layers: opts.layers.length, ...(modelpack ? { modelpack: modelpack.digest } : {}) },
    `modelcar ${root.digest}: ${opts.layers.length} model layers on ${stats.platforms} platform(s)${modelpack ? `, and a ModelPack manifest ${modelpack.digest} over the same layers` : ''}`,
  );
  return { root, ...stats, ...(modelpack ? { modelpack } : {}) };
}

/**
 * The ModelPack manifest over the modelcar's own layers, added to the root index with an unknown
 * platform (no runtime picks it; olot marks it the same way). A manifest root (a single-manifest
 * base) becomes an index of the two, the image's entry carrying its config's platform.
 */
async function addModelPackManifest(target: LayoutTarget, layout: OciLayout, root: Descriptor, layers: readonly ModelLayer[], about: ModelPackDescription): Promise<{ root: Descriptor; modelpack: Descriptor }> {
  const packLayers = layers.map(modelcarLayerAsModelPack);
  const config = await writeDocument(target, modelPackConfig(packLayers, about), MT.modelpackConfig);
  const manifest = await writeDocument(target, modelPackManifest(config, packLayers, { [ANNOTATION.modelpackEntriesUnder]: `${MODEL_ROOT_IN_IMAGE}/` }), MT.ociManifest);
  const entry: Descriptor = {
    ...manifest,
    artifactType: MT.modelpackManifestArtifact,
    platform: { ...MODELPACK_INDEX_PLATFORM },
    annotations: { [ANNOTATION.olotManifestType]: 'modelpack' },
  };
  let index: ImageIndex;
  if (isIndexType(root.mediaType)) {
    index = await layout.readJsonBlob<ImageIndex>(root.digest);
    index = { ...index, manifests: [...index.manifests, entry] };
  } else {
    const image = await layout.readJsonBlob<ImageManifest>(root.digest);
    const config = await layout.readJsonBlob<ImageConfig>(image.config.digest);
    const platform = { architecture: config.architecture ?? 'unknown', os: config.os ?? 'unknown', ...(config.variant ? { variant: config.variant } : {}) };
    index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...root, platform }, entry] };
  }
  const written = await writeDocument(target, index, MT.ociIndex);
  return { root: written, modelpack: manifest };
}
