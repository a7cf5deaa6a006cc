// What both packagers (the modelcar's, package.ts, and ModelPack's, package-modelpack.ts) do once
// the image is in image/: write package.json, then remove the blobs no root reaches any more. The
// record comes first: a crash in between leaves stale blobs, never a record naming removed ones.
import type { OciLayout } from '../oci/layout.js';
import type { Descriptor } from '../oci/types.js';
import { removeUnreferencedBlobs } from '../oci/unreferenced-blobs.js';
import { writeRecord, type ModelLayerRecord, type OciFormat } from '../workspace/records.js';
import type { StepContext } from './types.js';

export interface PackagedImage {
  ociFormat: OciFormat;
  /** The tagged root in image/. */
  root: Descriptor;
  /** The modelcar's base, as the settings name it and as pulled; a ModelPack artifact has none. */
  base?: { image: string; descriptor: Descriptor };
  layers: ModelLayerRecord[];
}

/** Records the packaged image and returns how many stale blobs were removed. */
export async function recordPackage(ctx: StepContext, layout: OciLayout, image: PackagedImage): Promise<number> {
  const { root, base } = image;
  await writeRecord(ctx.workspace, 'package', {
    ociFormat: image.ociFormat,
    ...(base ? { baseImage: base.image, baseDigest: base.descriptor.digest } : {}),
    indexDigest: root.digest,
    mediaType: root.mediaType,
    size: root.size,
    layerBlobs: 'model-files',
    layers: image.layers,
    finished: new Date().toISOString(),
    settings: ctx.settings.snapshot(),
  });
  return removeUnreferencedBlobs(layout, base ? [root, base.descriptor] : [root]);
}
