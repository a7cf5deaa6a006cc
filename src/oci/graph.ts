// The content graph of an image: an index and its manifests (children before parents, the root
// last) and the blobs they reference (configs and layers, each once). Push uploads in this order.
import { ModelSyncError } from '../errors.js';
import { isIndexType, isManifestType } from './media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from './types.js';

export interface ImageGraph {
  /** Indexes and manifests with their bytes, children before parents; the root is last. */
  manifests: Array<{ descriptor: Descriptor; bytes: Buffer }>;
  /** Configs and layers, unique by digest, in first-seen order. */
  blobs: Descriptor[];
}

export type ManifestReader = (descriptor: Descriptor) => Promise<Buffer>;

/** Platform of a descriptor as `os/arch[/variant]`, for logs. */
export function platformName(d: Descriptor): string {
  const p = d.platform;
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown';
}

export function parseManifestDocument(bytes: Buffer, label: string): { kind: 'index'; doc: ImageIndex } | { kind: 'manifest'; doc: ImageManifest } {
  let doc: { mediaType?: string; manifests?: unknown; layers?: unknown; config?: unknown; schemaVersion?: number };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ModelSyncError('integrity', `${label} is not valid JSON`);
  }
  if (doc.schemaVersion === 1) throw new ModelSyncError('precondition', `${label} is a Docker schema 1 manifest, which is not supported`);
  if (isIndexType(doc.mediaType) || Array.isArray(doc.manifests)) return { kind: 'index', doc: doc as unknown as ImageIndex };
  if (isManifestType(doc.mediaType) || (doc.config && Array.isArray(doc.layers))) return { kind: 'manifest', doc: doc as unknown as ImageManifest };
  throw new ModelSyncError('precondition', `${label} has the unsupported media type ${doc.mediaType ?? '(none)'}`);
}

export async function walkGraph(root: Descriptor, read: ManifestReader): Promise<ImageGraph> {
  const graph: ImageGraph = { manifests: [], blobs: [] };
  const seenManifests = new Set<string>();
  const seenBlobs = new Set<string>();
  const visit = async (d: Descriptor, depth: number): Promise<void> => {
    if (seenManifests.has(d.digest)) return;
    if (depth > 4) throw new ModelSyncError('precondition', `image index nesting deeper than 4 levels at ${d.digest}`);
    seenManifests.add(d.digest);
    const bytes = await read(d);
    const parsed = parseManifestDocument(bytes, `manifest ${d.digest}`);
    if (parsed.kind === 'index') {
      for (const child of parsed.doc.manifests ?? []) await visit(child, depth + 1);
    } else {
      for (const blob of [parsed.doc.config, ...(parsed.doc.layers ?? [])]) {
        if (!blob || seenBlobs.has(blob.digest)) continue;
        seenBlobs.add(blob.digest);
        graph.blobs.push(blob);
      }
    }
    const mediaType = d.mediaType || (parsed.doc.mediaType ?? '');
    graph.manifests.push({ descriptor: { ...d, mediaType }, bytes });
  };
  await visit(root, 0);
  return graph;
}
