// The workspace's image layout as package leaves it: configs, manifests, the index and the base
// image's layers are blob files in image/blobs/sha256/; the model layers are NOT (that would be a
// second full copy of the model). Their bytes are made on the fly from model/ (see tar-layer.ts;
// a layer holds one or several model files),
// following the package step record: ModelLayerSource is the layout's blob source, so push and
// layout-to-layout copies read the image as if every blob were on disk; materializeModelLayers()
// writes real blob files for tools that read the directory themselves (skopeo, umoci).
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';
import { openInside, safeJoin } from '../workspace/safe-path.js';
import { modelLayers, type ModelLayerRecord, type PackageRecord } from '../workspace/records.js';
import { OciLayout, type BlobSource, type ByteRange } from './layout.js';
import { openTarLayerStream, tarLayerSize, type TarLayerSource } from './tar-layer.js';

/** The blob source of the model layers: each made from its model files (see tar-layer.ts). */
export class ModelLayerSource implements BlobSource {
  private readonly layers = new Map<string, TarLayerSource & { size: number }>();

  constructor(readonly modelDir: string, records: readonly ModelLayerRecord[]) {
    for (const l of records) {
      if (!Array.isArray(l.files) || l.files.length === 0) {
        throw new ModelSyncError('precondition', `the package record's layer ${l.digest} lists no model files: run package again`);
      }
      // The size follows from paths and file sizes; the recorded one is not trusted. A file is
      // opened only as a regular file inside model/: a link planted after package cannot send a
      // host file to the registry.
      const members = l.files.map((f) => {
        const file = safeJoin(modelDir, f.path, `model file "${f.path}"`);
        return { file, path: f.path, fileSize: f.fileSize, openFile: () => openInside(modelDir, file, `model file "${f.path}"`) };
      });
      if (l.raw && members.length !== 1) throw new ModelSyncError('precondition', `the package record's raw layer ${l.digest} lists ${members.length} files: run package again`);
      this.layers.set(l.digest, { members, digest: l.digest, raw: !!l.raw, size: l.raw ? members[0]!.fileSize : tarLayerSize(members) });
    }
  }

  has(digest: string): boolean {
    return this.layers.has(digest);
  }

  digests(): Iterable<string> {
    return this.layers.keys();
  }

  /** A model layer counts as present while each of its model files has its recorded size. */
  async size(digest: string): Promise<number | undefined> {
    const layer = this.layers.get(digest);
    if (!layer) return undefined;
    for (const m of layer.members) {
      const fileSize = await stat(m.file).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
      if (fileSize !== m.fileSize) return undefined;
    }
    return layer.size;
  }

  /** The layer's bytes (or an inclusive byte range); a whole read is digest-verified. */
  open(digest: string, range?: ByteRange): Readable {
    const layer = this.layers.get(digest);
    if (!layer) throw new ModelSyncError('internal', `no model layer ${digest}`);
    return openTarLayerStream(layer, range);
  }
}

/** The workspace's image layout: blob files plus the model layers made from model/. */
export class ModelcarLayout extends OciLayout {
  declare readonly blobSource: ModelLayerSource;

  constructor(dir: string, readonly modelDir: string, layers: readonly ModelLayerRecord[]) {
    super(dir, new ModelLayerSource(modelDir, layers));
  }

  /** True when `digest` is a model layer made from model/. */
  isModelLayer(digest: string): boolean {
    return this.blobSource.has(digest);
  }

  /**
   * Writes every model layer as a real blob file (digest-verified), for tools that read the
   * layout directory themselves. Needs free space for a full copy of the model. Returns how many
   * blobs were written.
   */
  async materializeModelLayers(): Promise<number> {
    let written = 0;
    for (const digest of this.blobSource.digests()) {
      if ((await this.fileSize(digest)) !== undefined) continue;
      await this.writeBlobStream(this.blobSource.open(digest), { digest });
      written++;
    }
    return written;
  }

  static fromRecord(imageDir: string, modelDir: string, record: Pick<PackageRecord, 'layers'> | undefined): ModelcarLayout {
    return new ModelcarLayout(imageDir, modelDir, modelLayers(record));
  }
}
