// The one interface every image store is read and written through (after oras-go's Target):
// resolve, fetch manifests, open blobs, exists; push blobs and manifests, optional mount.
import type { Readable } from 'node:stream';
import type { ByteRange } from './layout.js';
import { isIndexType, isManifestType, MT } from './media-types.js';
import type { Descriptor } from './types.js';

/** Opens a blob's bytes (or an inclusive range of them) again each time it is called. */
export type BlobOpener = (range?: ByteRange) => Readable | Promise<Readable>;

export interface OciTarget {
  /** The location as the user wrote it (`registry/repo:tag`, `oci:<dir>[:tag]`), for messages. */
  readonly label: string;
  /** Tag and digest the location names, if any. */
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  /** Reads cost no network round-trip (a layout on disk). */
  readonly local: boolean;

  /** The root descriptor `reference` (default: the location's tag or digest) points at; notFound when none. */
  resolve(reference?: string): Promise<Descriptor>;
  /** The bytes of a manifest or index, verified against `d.digest`. */
  fetchManifest(d: Descriptor): Promise<Buffer>;
  /** A blob's bytes (unverified: the writer checks the digest); a missing blob fails as notFound. */
  openBlob(d: Descriptor, range?: ByteRange): Readable | Promise<Readable>;
  /** Whether the store holds `d` (a manifest or a blob, told apart by media type). */
  exists(d: Descriptor): Promise<boolean>;

  /** Stores a blob of known digest and size; `open` is called again for retries and chunks. */
  pushBlob(d: Descriptor, open: BlobOpener, opts?: { onBytes?: (n: number) => void }): Promise<void>;
  /** Stores a manifest or index by digest, or under `tag`; returns its digest. */
  pushManifest(d: Descriptor, bytes: Buffer, tag?: string): Promise<string>;
  /** Mounts a blob from another repository of the same store; false when not mounted. */
  mountBlob?(d: Descriptor, fromRepository: string): Promise<boolean>;

  /** The location with `tag`, as the user would write it. */
  reference(tag: string): string;
  /** The location with `tag` as a model-sync result URI (`oci://registry/repo:tag`, `oci:<dir>:tag`). */
  uri(tag: string): string;
  /** Extra fields for the summary log line. */
  logFields?(): Record<string, unknown>;
  close(): void;
}

export function isManifestDescriptor(d: Descriptor): boolean {
  return isIndexType(d.mediaType) || isManifestType(d.mediaType);
}

/** The media type a manifest is stored under: its own field, else the descriptor's, else by shape. */
export function manifestMediaType(d: Descriptor, bytes: Buffer): string {
  const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
  return doc.mediaType || d.mediaType || (Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest);
}

/** A descriptor as a root or tag entry names it: media type, digest and size only. */
export function rootDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}
