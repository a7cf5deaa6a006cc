// The target over a local OCI image layout (OciLayout): tags in index.json, blobs and manifests as
// files in blobs/sha256/ (or made by the layout's blob source, as the modelcar's model layers are).
import { ModelSyncError } from '../errors.js';
import { retryBrokenDownload } from './registry-client.js';
import { sha256Digest, type ByteRange, type OciLayout } from './layout.js';
import { rootDescriptor, type BlobOpener, type OciTarget } from './target.js';
import type { Descriptor } from './types.js';

export class LayoutTarget implements OciTarget {
  readonly label: string;
  readonly tag: string | undefined;
  readonly digest = undefined;
  readonly local = true;
  private readonly prefix: string;
  private ready: Promise<unknown> | undefined;

  constructor(
    readonly layout: OciLayout,
    /** `operation` (pull, push, fetch) starts error messages: `cannot fetch oci:<dir>: …`. */
    opts: { tag?: string; operation?: string } = {},
  ) {
    this.tag = opts.tag;
    this.label = `oci:${layout.dir}${opts.tag ? `:${opts.tag}` : ''}`;
    this.prefix = opts.operation ? `cannot ${opts.operation} ${this.label}: ` : '';
  }

  /** A tag from index.json; without one the only image there, else the one tagged latest. */
  async resolve(reference = this.tag): Promise<Descriptor> {
    const { layout } = this;
    const root = reference ? await layout.resolveTag(reference) : ((await layout.resolveTag()) ?? (await layout.resolveTag('latest')));
    if (!root) {
      const what = reference ? `no image tagged "${reference}"` : 'no single image (name a tag, oci:<dir>:<tag>)';
      throw new ModelSyncError('notFound', `${this.prefix}image layout ${layout.dir}: ${what} in ${layout.dir}/index.json`);
    }
    return rootDescriptor(root);
  }

  async fetchManifest(d: Descriptor): Promise<Buffer> {
    const bytes = await this.layout.readBlob(d.digest).catch((err: unknown) => {
      throw err instanceof ModelSyncError ? new ModelSyncError(err.kind, `${this.prefix}image layout ${this.layout.dir} lacks manifest ${d.digest}`) : err;
    });
    if (sha256Digest(bytes) !== d.digest) throw new ModelSyncError('integrity', `${this.prefix}image layout ${this.layout.dir}: manifest ${d.digest} does not match its digest`);
    return bytes;
  }

  openBlob(d: Descriptor, range?: ByteRange) {
    return this.layout.readBlobStream(d.digest, range);
  }

  exists(d: Descriptor): Promise<boolean> {
    return this.layout.hasBlob(d.digest, d.size);
  }

  /** Streams the blob in, digest and size verified; a download that broke off starts again. */
  async pushBlob(d: Descriptor, open: BlobOpener, opts: { onBytes?: (n: number) => void } = {}): Promise<void> {
    await this.init();
    await retryBrokenDownload(async () => {
      await this.layout.writeBlobStream(await open(), { digest: d.digest, size: d.size }, opts.onBytes);
    });
  }

  /** Stores the bytes as a blob; with a tag, also points the tag at it in index.json. */
  async pushManifest(d: Descriptor, bytes: Buffer, tag?: string): Promise<string> {
    await this.init();
    const written = await this.layout.writeBlobBytes(bytes, d.mediaType);
    if (written.digest !== d.digest) throw new ModelSyncError('integrity', `${this.prefix}manifest ${d.digest} has bytes hashing to ${written.digest}`);
    if (tag) await this.layout.tag(tag, rootDescriptor(d));
    return written.digest;
  }

  reference(tag: string): string {
    return `oci:${this.layout.dir}:${tag}`;
  }

  uri(tag: string): string {
    return this.reference(tag);
  }

  close(): void {}

  private init(): Promise<unknown> {
    this.ready ??= this.layout.init();
    return this.ready;
  }
}
