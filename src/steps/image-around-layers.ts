// The modelcar built on its base around model layers that are already in the destination
// registry, then pushed as push would (base blobs mounted or copied, manifests, the index tagged):
// what the streaming `all` and assemble do once the layers are up. Its push.json counts the
// layers' own uploads too, as the caller reports them.
import { endpointAccess, type ImageEndpoint } from '../oci/credentials.js';
import type { OciLayout } from '../oci/layout.js';
import { buildModelcar } from '../oci/modelcar.js';
import type { ModelPackDescription } from '../oci/modelpack.js';
import { pushLayout, type PushResult } from '../oci/transfer.js';
import type { Descriptor } from '../oci/types.js';
import { writeRecord, type ModelLayerRecord } from '../workspace/records.js';
import type { StepSettings } from '../config/settings.js';
import type { StepContext } from './types.js';

export interface ImageAroundLayers {
  layout: OciLayout;
  base: Descriptor;
  /** Where the base came from: its blobs are mounted from there when the registry allows. */
  baseReference: string;
  /** In image order; every blob is in the destination already. */
  layers: ModelLayerRecord[];
  image: ImageEndpoint;
  /** The layout tag of the built image (kept apart from package's `latest`). */
  layoutTag: string;
  /** modelcar, or both (a ModelPack manifest over the same layers joins the index). */
  format: 'modelcar' | 'both';
  /** What the ModelPack config's descriptor says (format both). */
  about?: ModelPackDescription;
  /** Uploads the layers took before, added to push.json's counts. */
  layerUploads: { uploaded: number; skipped: number; bytes: number };
}

export async function pushImageAroundLayers(ctx: StepContext, opts: ImageAroundLayers): Promise<PushResult> {
  const { settings, workspace, log } = ctx;
  const modelpack = opts.format === 'both' ? { modelpack: opts.about ?? {} } : {};
  const { root } = await buildModelcar({ layout: opts.layout, base: opts.base, layers: opts.layers, log, tag: opts.layoutTag, ...modelpack });
  const result = await pushLayout({
    layout: opts.layout,
    root,
    reference: opts.image.reference,
    ...endpointAccess(opts.image),
    network: settings.network(),
    concurrency: settings.pushConcurrency(),
    log,
    progressIntervalSeconds: settings.progressIntervalSeconds,
    mountFromImage: opts.baseReference,
    stop: ctx.stop,
    // pushLayout checks they are there (the layout has none of them).
    presentInDestination: new Set(opts.layers.map((l) => l.digest)),
  });
  await writeRecord(workspace, 'push', {
    destination: 'oci',
    target: settings.destinationTarget()!,
    uri: result.uri,
    digest: result.digest,
    ociFormat: opts.format,
    blobsUploaded: opts.layerUploads.uploaded + result.blobsUploaded,
    blobsSkipped: opts.layerUploads.skipped + result.blobsSkipped,
    bytesUploaded: opts.layerUploads.bytes + result.bytesUploaded,
    finished: new Date().toISOString(),
    settings: settings.snapshot(),
  });
  return result;
}

/** The format of an image built around model layers: modelcar, or both with its ModelPack description. */
export function modelcarFormat(settings: StepSettings): { format: 'modelcar' | 'both'; about?: ModelPackDescription } {
  const output = settings.ociOutput();
  return output.format === 'both' ? { format: 'both', about: output.about } : { format: 'modelcar' };
}
