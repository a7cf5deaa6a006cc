// The registry as the meeting point of a scale-out run (docs/scale-out.md). Parts on different
// nodes share no volume, and Tekton results hold about 4 KB, so the plan and each part's result
// travel as small OCI artifacts under derived tags (part-plan.ts planTag, partTag): an image
// manifest with our artifactType, the empty config, and the JSON document as its first layer.
//
// A part's result (and its progress) also lists the model layers the part pushed, after the JSON:
// while the tag stands, the registry's garbage collection keeps those blobs, and the registry
// itself checked they exist when it accepted the manifest. The tag goes in an annotation, so the
// manifest's digest belongs to that tag alone and deleting it by digest untags nothing else.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';
import { ANNOTATION, MT } from './media-types.js';
import type { RegistryTarget } from './target-registry.js';
import type { Descriptor, ImageManifest } from './types.js';

/** The OCI empty descriptor's blob (`{}`), the config of artifacts without one. */
const EMPTY_JSON = Buffer.from('{}');
const EMPTY_CONFIG: Descriptor = { mediaType: MT.ociEmpty, digest: sha256(EMPTY_JSON), size: EMPTY_JSON.length };

/** Plans of many thousands of files stay far below this. */
const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

export const PART_ARTIFACT_TYPES = [MT.partPlan, MT.partResult, MT.partProgress] as const;
export type PartArtifactType = (typeof PART_ARTIFACT_TYPES)[number];

export interface PartDocumentPush {
  tag: string;
  artifactType: PartArtifactType;
  /** The document's JSON (part-plan.ts encodePartPlan / encodePartResult). */
  json: string;
  /** Blobs already in the repository that the manifest should keep alive (a part's model layers). */
  references?: readonly Descriptor[];
}

export interface StoredPartDocument {
  artifactType: PartArtifactType;
  text: string;
  /** Digest of the manifest under the tag (what removePartDocument deletes). */
  manifestDigest: string;
  /** Digest of the JSON blob: for a plan, its partPlanDigest. */
  documentDigest: string;
  /** The descriptors after the JSON (a part's model layers). */
  references: Descriptor[];
}

/** Pushes the document (config and JSON blobs first), then its manifest under `tag`; returns the manifest digest. */
export async function pushPartDocument(target: RegistryTarget, doc: PartDocumentPush): Promise<string> {
  const json = Buffer.from(doc.json, 'utf8');
  const document: Descriptor = { mediaType: doc.artifactType, digest: sha256(json), size: json.length };
  for (const [d, bytes] of [[EMPTY_CONFIG, EMPTY_JSON], [document, json]] as const) {
    if (!(await target.exists(d))) await target.pushBlob(d, () => Readable.from([bytes]));
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: doc.artifactType,
    config: EMPTY_CONFIG,
    layers: [document, ...(doc.references ?? []).map((r) => ({ mediaType: r.mediaType, digest: r.digest, size: r.size }))],
    annotations: { [ANNOTATION.partTag]: doc.tag },
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  return target.pushManifest({ mediaType: MT.ociManifest, digest: sha256(bytes), size: bytes.length }, bytes, doc.tag);
}

/**
 * The document under `tag`, or undefined when the tag does not exist. A tag that holds anything
 * else (an image, someone else's artifact) is a precondition error naming it.
 */
export async function pullPartDocument(target: RegistryTarget, tag: string): Promise<StoredPartDocument | undefined> {
  let root: Descriptor;
  try {
    root = await target.resolve(tag);
  } catch (err) {
    if (err instanceof ModelSyncError && err.kind === 'notFound') return undefined;
    throw err;
  }
  const where = target.reference(tag);
  let manifest: Partial<ImageManifest>;
  try {
    manifest = JSON.parse((await target.fetchManifest(root)).toString('utf8')) as Partial<ImageManifest>;
  } catch {
    throw new ModelSyncError('precondition', `${where} is not a model-sync scale-out document (its manifest is not JSON)`);
  }
  const artifactType = manifest.artifactType as PartArtifactType | undefined;
  const first = manifest.layers?.[0];
  if (!artifactType || !PART_ARTIFACT_TYPES.includes(artifactType) || !first || first.mediaType !== artifactType) {
    throw new ModelSyncError('precondition', `${where} holds ${manifest.artifactType ?? manifest.mediaType ?? root.mediaType}, not a model-sync scale-out document: the tag is taken by something else`);
  }
  const text = (await target.blobBytes(first, MAX_DOCUMENT_BYTES)).toString('utf8');
  return { artifactType, text, manifestDigest: root.digest, documentDigest: first.digest, references: (manifest.layers ?? []).slice(1) };
}

/** Deletes a document's manifest by digest ('refused' where the registry allows no deletes). */
export function removePartDocument(target: RegistryTarget, manifestDigest: string): Promise<'deleted' | 'absent' | 'refused'> {
  return target.deleteManifest(manifestDigest);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
