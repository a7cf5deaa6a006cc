// DEV UTILITY, not part of the product: the smallest base image model-sync can package on, for the
// demo on machines without /bin/busybox. One empty layer (an empty tar), linux/amd64, no shell: the
// modelcar is valid OCI but KServe, which runs a shell in it, needs a real base such as busybox.
import { OciLayout, sha256Digest } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import type { ImageConfig, ImageIndex, ImageManifest } from '../src/oci/types.js';

export async function buildMinimalBase(dir: string, tag = 'latest'): Promise<{ dir: string; reference: string }> {
  const layout = await new OciLayout(dir).init();
  const emptyTar = Buffer.alloc(1024); // two zero blocks: the end-of-archive marker
  const layer = await layout.writeBlobBytes(emptyTar, MT.ociLayerTar);
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: {},
    rootfs: { type: 'layers', diff_ids: [sha256Digest(emptyTar)] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'model-sync minimal base (empty layer)' }],
  } as ImageConfig;
  const configDesc = await layout.writeJsonBlob(config, MT.ociConfig);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [layer] } as ImageManifest;
  const manifestDesc = await layout.writeJsonBlob(manifest, MT.ociManifest, { platform: { os: 'linux', architecture: 'amd64' } });
  const index: ImageIndex = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [manifestDesc] } as ImageIndex;
  const indexDesc = await layout.writeJsonBlob(index, MT.ociIndex);
  await layout.tag(tag, indexDesc);
  return { dir, reference: `oci:${dir}:${tag}` };
}
