// The target over one repository of an OCI registry, through RegistryClient: manifests by tag or
// digest, blobs by HEAD, streamed GET, upload (monolithic or chunked) and cross-repository mount.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelSyncError } from '../errors.js';
import type { ByteRange } from './layout.js';
import { formatReference, manifestReference, type ImageReference } from './reference.js';
import { RegistryClient, type RegistryClientOptions, type UploadOptions } from './registry-client.js';
import { isManifestDescriptor, manifestMediaType, type BlobOpener, type OciTarget } from './target.js';
import type { Descriptor } from './types.js';

export type RegistryTargetOptions = RegistryClientOptions & Pick<UploadOptions, 'chunkThreshold' | 'chunkSize'>;

export class RegistryTarget implements OciTarget {
  readonly label: string;
  readonly local = false;
  private readonly client: RegistryClient;
  private readonly repository: string;
  /** Bytes of the roots resolve() fetched, so that fetchManifest does not GET them again. */
  private readonly resolved = new Map<string, Buffer>();

  constructor(
    readonly ref: ImageReference,
    private readonly opts: RegistryTargetOptions,
  ) {
    this.label = formatReference(ref);
    this.repository = ref.repository;
    this.client = new RegistryClient(ref, opts);
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
    return this.client.uploadBlob(this.repository, d.digest, d.size, reopen, { chunkThreshold: this.opts.chunkThreshold, chunkSize: this.opts.chunkSize, onBytes: opts.onBytes });
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
