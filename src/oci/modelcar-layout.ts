// The workspace's image layout as package leaves it: configs, manifests, the index and the base
// image's layers are blob files in image/blobs/sha256/; the model layers are NOT (that would be a
// second full copy of the model). Their bytes are made on the fly from model/ (see tar-layer.ts),
// following the package step record. This class serves both kinds through the OciLayout surface
// (blobSize, hasBlob, readBlobStream), so push and layout-to-layout copies read the image as if
// every blob were on disk; materializeModelLayers() writes real blob files for tools that read
// the directory themselves (skopeo, umoci).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelSyncError } from '../errors.js';
import { safeJoin } from '../workspace/safe-path.js';
import { readRecord, type ModelLayerRecord, type PackageRecord } from '../workspace/records.js';
import type { Workspace } from '../workspace/workspace.js';
import { OciLayout } from './layout.js';
import { openTarLayerStream, tarLayerFraming, type TarLayerSource } from './tar-layer.js';

export type ByteRange = { start: number; end: number };

export class ModelcarLayout extends OciLayout {
  private readonly sources = new Map<string, TarLayerSource & { size: number }>();

  constructor(dir: string, readonly modelDir: string, layers: readonly ModelLayerRecord[]) {
    super(dir);
    for (const l of layers) {
      const file = safeJoin(modelDir, l.path, `model file "${l.path}"`);
      // The size follows from path and file size; the recorded one is not trusted.
      this.sources.set(l.digest, { file, path: l.path, fileSize: l.fileSize, digest: l.digest, size: tarLayerFraming(l.path, l.fileSize).size });
    }
  }

  /** True when `digest` is a model layer made from model/. */
  isModelLayer(digest: string): boolean {
    return this.sources.has(digest);
  }

  /** Blob files first; a model layer counts as present while its model file has its recorded size. */
  override async blobSize(digest: string): Promise<number | undefined> {
    const onDisk = await super.blobSize(digest);
    if (onDisk !== undefined) return onDisk;
    const source = this.sources.get(digest);
    if (!source) return undefined;
    const fileSize = await stat(source.file).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
    return fileSize === source.fileSize ? source.size : undefined;
  }

  /**
   * The blob's bytes (or an inclusive byte range): a blob file when there is one, else the model
   * layer made from its model file (a whole read is digest-verified).
   */
  override readBlobStream(digest: string, range?: ByteRange): Readable {
    const source = this.sources.get(digest);
    if (!source) return createReadStream(this.blobPath(digest), range);
    // Deciding between the two needs an async stat; the caller gets a stream at once.
    const out = new PassThrough();
    void super.blobSize(digest).then(
      (onDisk) => pipeline(onDisk !== undefined ? createReadStream(this.blobPath(digest), range) : openTarLayerStream(source, range), out),
    ).catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  override async readBlob(digest: string): Promise<Buffer> {
    if (!this.sources.has(digest)) return super.readBlob(digest);
    const chunks: Buffer[] = [];
    for await (const c of this.readBlobStream(digest) as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }

  /**
   * Writes every model layer as a real blob file (digest-verified), for tools that read the
   * layout directory themselves. Needs free space for a full copy of the model. Returns how many
   * blobs were written.
   */
  async materializeModelLayers(): Promise<number> {
    let written = 0;
    for (const source of this.sources.values()) {
      if ((await super.blobSize(source.digest)) !== undefined) continue;
      await this.writeBlobStream(openTarLayerStream(source), { digest: source.digest });
      written++;
    }
    return written;
  }

  /** Builds the layout of a workspace from its package record. */
  static async fromWorkspace(workspace: Workspace): Promise<ModelcarLayout> {
    const record = await readRecord(workspace, 'package');
    return ModelcarLayout.fromRecord(workspace.imageDir, workspace.modelDir, record);
  }

  static fromRecord(imageDir: string, modelDir: string, record: Pick<PackageRecord, 'layers'> | undefined): ModelcarLayout {
    return new ModelcarLayout(imageDir, modelDir, record?.layers ?? []);
  }
}

/**
 * The packaged image layout of a workspace, ready for push: blob files plus the model layers made
 * from model/. Throws when package has not run.
 */
export async function openPackagedLayout(workspace: Workspace): Promise<{ layout: ModelcarLayout; record: PackageRecord }> {
  const record = await readRecord(workspace, 'package');
  if (!record?.indexDigest) {
    throw new ModelSyncError('precondition', `no package record in ${workspace.stateDir}: run package first (same --storage-path)`);
  }
  return { layout: ModelcarLayout.fromRecord(workspace.imageDir, workspace.modelDir, record), record };
}
