// The target over one repository of an OCI registry, through RegistryClient: manifests by tag or
// digest, blobs by HEAD, streamed GET, upload (monolithic or chunked) and cross-repository mount.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelSyncError } from '../errors.js';
import type { ByteRange } from './layout.js';
import { formatReference, manifestReference, type ImageReference } from './reference.js';
import { RegistryClient, type BlobOpener as ClientBlobOpener, type ChunkedSource, type ChunkedUploadOptions, type ChunkedUploadResult, type RegistryClientOptions, type UploadOptions } from './registry-client.js';
import { blobSessionKey, type UploadSessions } from './upload-sessions.js';
import { isManifestDescriptor, manifestMediaType, type BlobOpener, type OciTarget } from './target.js';
import type { Descriptor } from './types.js';

export type RegistryTargetOptions = RegistryClientOptions &
  Pick<UploadOptions, 'chunkThreshold' | 'chunkSize'> & {
    /** Chunked uploads record their sessions here, and continue the ones an earlier run left. */
    sessions?: UploadSessions;
  };

export class RegistryTarget implements OciTarget {
  readonly label: string;
  readonly local = false;
  private readonly client: RegistryClient;
  readonly repository: string;
  private sessions: UploadSessions | undefined;
  /** Bytes of the roots resolve() fetched, so that fetchManifest does not GET them again. */
  private readonly resolved = new Map<string, Buffer>();

  constructor(
    readonly ref: ImageReference,
    private readonly opts: RegistryTargetOptions,
  ) {
    this.label = formatReference(ref);
    this.repository = ref.repository;
    this.client = new RegistryClient(ref, opts);
    this.sessions = opts.sessions;
  }

  /** Registry host as the reference names it. */
  get registry(): string {
    return this.ref.registry;
  }

  /** Records chunked uploads in `sessions` from now on (pushLayout gets the target from openTarget). */
  recordSessions(sessions: UploadSessions | undefined): void {
    this.sessions = sessions;
  }

  /** True when every blob goes up in one PUT (registries known to refuse chunks; see registry-client.ts). */
  get monolithicOnly(): boolean {
    return this.client.monolithicOnly;
  }

  /** A chunked upload whose digest may be known only at the end (stream-layer.ts). */
  uploadInChunks(source: ChunkedSource, opts: ChunkedUploadOptions): Promise<ChunkedUploadResult> {
    return this.client.uploadInChunks(this.repository, source, opts);
  }

  /** One streamed PUT of a blob whose digest is known. */
  putBlob(digest: string, size: number, open: ClientBlobOpener, onBytes?: (n: number) => void): Promise<void> {
    return this.client.uploadBlob(this.repository, digest, size, open, { chunkThreshold: Infinity, onBytes });
  }

  get tag(): string | undefined {
    return this.ref.tag;
  }

  get digest(): string | undefined {
    return this.ref.digest;
  }

  async resolve(reference = manifestReference(this.ref)): Promise<Descriptor> {
    const m = await this.client.getManifest(this.repository, reference);
    this.resolved.set(m.digest, m.bytes);
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  }

  /** GET by digest: the client checks the bytes against it. */
  async fetchManifest(d: Descriptor): Promise<Buffer> {
    return this.resolved.get(d.digest) ?? (await this.client.getManifest(this.repository, d.digest)).bytes;
  }

  async openBlob(d: Descriptor, range?: ByteRange): Promise<Readable> {
    // The client's GET has no Range; chunked uploads read ranges from local sources only.
    if (range) throw new ModelSyncError('internal', `cannot read a byte range of blob ${d.digest} from registry ${this.ref.registry}`);
    return (await this.client.openBlob(this.repository, d.digest)).stream;
  }

  async exists(d: Descriptor): Promise<boolean> {
    if (isManifestDescriptor(d)) return (await this.client.headManifest(this.repository, d.digest)) !== undefined;
    return (await this.client.headBlob(this.repository, d.digest)) !== undefined;
  }

  pushBlob(d: Descriptor, open: BlobOpener, opts: { onBytes?: (n: number) => void } = {}): Promise<void> {
    const reopen = (start?: number, end?: number) => syncStream(open(start === undefined ? undefined : { start, end: end ?? d.size - 1 }));
    const session = this.sessions?.record(blobSessionKey(d.digest), { registry: this.ref.registry, repository: this.repository, size: d.size, digest: d.digest });
    return this.client.uploadBlob(this.repository, d.digest, d.size, reopen, { chunkThreshold: this.opts.chunkThreshold, chunkSize: this.opts.chunkSize, onBytes: opts.onBytes, session });
  }

  /** A small blob (a config, a JSON document) read whole and checked against its digest. */
  blobBytes(d: Descriptor, limit?: number): Promise<Buffer> {
    return this.client.getBlobBytes(this.repository, d.digest, limit);
  }

  /** Removes a manifest (and so every tag on it) where the registry allows deletes. */
  deleteManifest(digest: string): Promise<'deleted' | 'absent' | 'refused'> {
    return this.client.deleteManifest(this.repository, digest);
  }

  pushManifest(d: Descriptor, bytes: Buffer, tag?: string): Promise<string> {
    return this.client.putManifest(this.repository, tag ?? d.digest, bytes, manifestMediaType(d, bytes));
  }

  /** A failed mount is no error: the blob is uploaded instead. */
  async mountBlob(d: Descriptor, fromRepository: string): Promise<boolean> {
    if (fromRepository === this.repository) return false;
    return this.client.mountBlob(this.repository, d.digest, fromRepository).catch(() => false);
  }

  reference(tag: string): string {
    return formatReference({ ...this.ref, tag, digest: undefined });
  }

  uri(tag: string): string {
    return `oci://${this.reference(tag)}`;
  }

  logFields(): Record<string, unknown> {
    return { tokens: this.client.auth.tokensObtained };
  }

  close(): void {
    this.client.close();
  }
}

/** The client's uploads take a stream at once; a source that opens asynchronously is bridged. */
function syncStream(s: Readable | Promise<Readable>): Readable {
  if (!(s instanceof Promise)) return s;
  const out = new PassThrough();
  s.then((stream) => pipeline(stream, out)).catch((err: unknown) => out.destroy(err as Error));
  return out;
}
