// An OCI image layout on disk (oci-layout, index.json, blobs/sha256/): the hand-over between
// package and push, and the place where pulled base images land. Blobs are written to a
// temporary name and renamed once their digest is known, so a crash never leaves a blob whose
// name lies about its content. A layout may also serve blobs it has no file for from a
// BlobSource (the modelcar's model layers, made from model/).
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough, Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';
import { writeAtomically, writeThenRename } from '../util/atomic-write.js';
import { Sha256Meter } from '../util/sha256-meter.js';
import type { Descriptor, ImageIndex } from './types.js';
import { MT } from './media-types.js';

export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function parseDigest(digest: string): { algorithm: 'sha256'; hex: string } {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new ModelSyncError('integrity', `unsupported or malformed digest "${digest}"`);
  return { algorithm: 'sha256', hex: m[1]! };
}

/** Canonical bytes of a JSON document as we write it (compact, key order as given). */
export function jsonBytes(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc));
}

/** An inclusive byte range, as fs.createReadStream takes it. */
export type ByteRange = { start: number; end: number };

/** Blobs made on demand instead of stored as files; a blob file of the same digest wins. */
export interface BlobSource {
  /** Whether this source makes the blob `digest`. */
  has(digest: string): boolean;
  /** Every digest it makes. */
  digests(): Iterable<string>;
  /** Size of the blob while its material is intact, else undefined (also for foreign digests). */
  size(digest: string): Promise<number | undefined>;
  /** The blob's bytes (or a range of them); a whole read is digest-verified by the source. */
  open(digest: string, range?: ByteRange): Readable;
}

export class OciLayout {
  readonly blobsDir: string;

  constructor(
    readonly dir: string,
    /** Blobs served without a file in blobs/sha256/. */
    readonly blobSource?: BlobSource,
  ) {
    this.blobsDir = path.join(dir, 'blobs', 'sha256');
  }

  async init(): Promise<this> {
    await mkdir(this.blobsDir, { recursive: true });
    await writeFile(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    return this;
  }

  blobPath(digest: string): string {
    return path.join(this.blobsDir, parseDigest(digest).hex);
  }

  /** Size of the blob file when there is one, else undefined. */
  async fileSize(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      return undefined;
    }
  }

  /** Size of a blob when present (a file, else made by the blob source), else undefined. */
  async blobSize(digest: string): Promise<number | undefined> {
    return (await this.fileSize(digest)) ?? this.blobSource?.size(digest);
  }

  private makes(digest: string): boolean {
    return this.blobSource?.has(digest) ?? false;
  }

  private missing(digest: string): ModelSyncError {
    return new ModelSyncError('notFound', `image layout ${this.dir} lacks blob ${digest}`);
  }

  async hasBlob(digest: string, size?: number): Promise<boolean> {
    const actual = await this.blobSize(digest);
    return actual !== undefined && (size === undefined || actual === size);
  }

  /** Writes bytes whose digest we compute; returns a descriptor. */
  async writeBlobBytes(data: Buffer, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
    const digest = sha256Digest(data);
    if (!(await this.hasBlob(digest, data.length))) {
      await writeThenRename(path.join(this.blobsDir, `.tmp-${randomBytes(6).toString('hex')}`), data, this.blobPath(digest));
    }
    return { mediaType, digest, size: data.length, ...extra };
  }

  writeJsonBlob(doc: unknown, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
    return this.writeBlobBytes(jsonBytes(doc), mediaType, extra);
  }

  /**
   * Streams a blob in; when `expected` is given the digest (and size) must match, else the blob
   * is refused. Returns the digest and size written.
   */
  async writeBlobStream(source: Readable, expected?: { digest: string; size?: number }, onBytes?: (n: number) => void): Promise<{ digest: string; size: number }> {
    const tmp = path.join(this.blobsDir, `.tmp-${randomBytes(6).toString('hex')}`);
    const meter = new Sha256Meter(onBytes);
    try {
      await pipeline(source, meter, createWriteStream(tmp));
      const digest = 'sha256:' + meter.digestHex();
      const size = meter.bytes;
      if (expected && (digest !== expected.digest || (expected.size !== undefined && size !== expected.size))) {
        throw new ModelSyncError('integrity', `blob digest mismatch: expected ${expected.digest} (${expected.size ?? '?'} bytes), got ${digest} (${size} bytes)`);
      }
      await rename(tmp, this.blobPath(digest));
      return { digest, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * The blob's bytes, or the inclusive byte range [start, end] of them (chunked uploads): the
   * blob file when there is one, else what the blob source makes. A missing blob is notFound.
   */
  readBlobStream(digest: string, range?: ByteRange): Readable {
    const file = this.blobPath(digest);
    if (this.makes(digest)) {
      // Deciding between the two needs an async stat; the caller gets a stream at once.
      const out = new PassThrough();
      void this.fileSize(digest)
        .then((onDisk) => pipeline(onDisk !== undefined ? createReadStream(file, range) : this.blobSource!.open(digest, range), out))
        .catch((err: unknown) => out.destroy(err as Error));
      return out;
    }
    // A missing blob fails as notFound (not a raw ENOENT), on the first read: the consumer listens by then.
    if (!existsSync(file)) {
      const err = this.missing(digest);
      return new Readable({
        read() {
          this.destroy(err);
        },
      });
    }
    return createReadStream(file, range);
  }

  async readBlob(digest: string): Promise<Buffer> {
    if (this.makes(digest) && (await this.fileSize(digest)) === undefined) {
      const chunks: Buffer[] = [];
      for await (const c of this.readBlobStream(digest) as AsyncIterable<Buffer>) chunks.push(c);
      return Buffer.concat(chunks);
    }
    return readFile(this.blobPath(digest)).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? this.missing(digest) : err;
    });
  }

  async readJsonBlob<T>(digest: string): Promise<T> {
    return JSON.parse((await this.readBlob(digest)).toString('utf8')) as T;
  }

  async readIndex(): Promise<ImageIndex> {
    try {
      return JSON.parse(await readFile(path.join(this.dir, 'index.json'), 'utf8')) as ImageIndex;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
      throw err;
    }
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    const file = path.join(this.dir, 'index.json');
    await writeAtomically(file, JSON.stringify(index));
  }

  /** The descriptor tagged `tag` in index.json (org.opencontainers.image.ref.name), else the only one. */
  async resolveTag(tag?: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    if (tag) return index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
    return index.manifests.length === 1 ? index.manifests[0] : undefined;
  }

  /** Points `tag` at `descriptor` in index.json, replacing an older entry of the same tag. */
  async tag(tag: string, descriptor: Descriptor): Promise<void> {
    const index = await this.readIndex();
    const others = index.manifests.filter((d) => d.annotations?.['org.opencontainers.image.ref.name'] !== tag);
    others.push({ ...descriptor, annotations: { ...descriptor.annotations, 'org.opencontainers.image.ref.name': tag } });
    await this.writeIndex({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: others });
  }
}
