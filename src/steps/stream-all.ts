// The streaming `all`: each source file goes straight into the destination, into its modelcar
// layer upload on a registry (tar header, bytes, padding; the digests computed on the way) or into
// its S3 upload, so the model is never written to the volume. The workspace holds only the base
// image (image/) and small records. all.ts takes this path when --stream is on and both sides
// allow it; otherwise it stages the model as the separate steps do, and the log says why.
//
// A re-run after a kill skips the layers stream.json records as finished (when the registry
// still has their blobs), and continues a layer whose upload session the registry kept
// (.model-sync/oci-uploads.json, oci/upload-sessions.ts).
import type { StepSettings } from '../config/settings.js';
import { streamToS3 } from '../destinations/stream-s3.js';
import type { ImageEndpoint } from '../oci/credentials.js';
import { planModelLayers, type PlannedLayer } from '../oci/layer-plan.js';
import { baseLayerCount } from '../oci/modelcar.js';
import { parseImageLocation } from '../oci/reference.js';
import { streamLayerToRegistry, type StreamedLayer } from '../oci/stream-layer.js';
import type { RegistryTarget } from '../oci/target-registry.js';
import { MT } from '../oci/media-types.js';
import { tarLayerSize } from '../oci/tar-layer.js';
import { streamedLayerSessionKey, UploadSessions } from '../oci/upload-sessions.js';
import { openStreamSource, type SourceFile, type StreamSource } from '../sources/stream-source.js';
import { forEachLimit } from '../util/concurrency.js';
import { megabytesPerSecond, Progress } from '../util/progress.js';
import { readRecord, writeRecord, type ModelLayerRecord, type StreamRecord, type StreamedLayerRecord } from '../workspace/records.js';
import { pullBaseImage } from './base-image.js';
import { modelcarFormat, pushImageAroundLayers } from './image-around-layers.js';
import { openRegistryDestination } from './registry-destination.js';
import { fetchContext } from './fetch.js';
import { dropPushResult, recordS3Push, s3PushContext } from './push-outcome.js';
import { layerBudget } from './package.js';
import type { StepContext } from './types.js';

export type StreamChoice = { stream: true } | { stream: false; reason: string };

/** What the settings decide alone; the source may still ask to be staged once it is opened (an archive). */
export function streamingIntended(settings: StepSettings): StreamChoice {
  if (!settings.streaming()) return { stream: false, reason: `${settings.streamingSetting() ?? 'streaming'} is false` };
  const destination = settings.destination();
  if (destination.type === 'oci' && parseImageLocation(destination.image.reference, destination.image.setting).kind === 'layout') {
    return { stream: false, reason: 'the destination is an oci: image layout' };
  }
  if (settings.source().type === 'oci') return { stream: false, reason: "an OCI source's files sit inside its tar layers" };
  const output = settings.ociOutput();
  if (destination.type === 'oci' && output.format === 'modelpack') {
    return { stream: false, reason: `${output.setting} is modelpack, whose raw layers are staged files` };
  }
  return { stream: true };
}

export interface StreamedRun {
  /** The results of fetch and push as the separate steps would give them. */
  results: { 'model-files': string; 'model-bytes': string; 'image-digest': string; 'model-uri': string };
  summary: Record<string, unknown>;
}

/** Runs the streaming transfer, or returns why the model has to be staged after all. */
export async function runStreamed(ctx: StepContext): Promise<StreamedRun | { staged: string }> {
  const { settings, workspace, log } = ctx;
  const choice = await openStreamSource(fetchContext(ctx), settings.source(), settings.rangedTuning());
  if (choice.kind === 'stage') return { staged: choice.reason };
  const source = choice.source;
  try {
    await dropPushResult(workspace);
    const destination = settings.destination();
    const bytes = source.files.reduce((n, f) => n + f.size, 0);
    const target = settings.destinationTarget()!;
    log.info(
      { source: source.label, destination: target, files: source.files.length, bytes },
      `streaming ${source.files.length} files from ${source.label} to ${target}: no copy of the model on the volume`,
    );
    const started = Date.now();
    if (destination.type === 's3') {
      const r = await streamToS3(s3PushContext(ctx), destination.s3, source.files);
      await recordS3Push(ctx, target, r);
      return {
        results: { 'model-files': String(source.files.length), 'model-bytes': String(bytes), 'image-digest': '', 'model-uri': r.uri },
        summary: { streamed: true, uri: r.uri, files: r.files, bytes: r.bytes, skipped: r.skipped, MBps: megabytesPerSecond(r.bytes, (Date.now() - started) / 1000) },
      };
    }
    const pushed = await streamToRegistry(ctx, source, destination.image, target);
    return {
      results: { 'model-files': String(source.files.length), 'model-bytes': String(bytes), 'image-digest': pushed.digest, 'model-uri': pushed.uri },
      summary: { streamed: true, ...pushed, MBps: megabytesPerSecond(pushed.bytesUploaded, (Date.now() - started) / 1000) },
    };
  } finally {
    source.close();
  }
}

interface RegistryPush {
  uri: string;
  digest: string;
  layers: number;
  layersStreamed: number;
  layersSkipped: number;
  bytesUploaded: number;
}

async function streamToRegistry(ctx: StepContext, source: StreamSource, image: ImageEndpoint, target: string): Promise<RegistryPush> {
  const { settings, workspace, log } = ctx;
  const budget = layerBudget(ctx);
  const { layout, base, reference: baseImage } = await pullBaseImage(ctx);
  const plan = planModelLayers(source.files, await baseLayerCount(layout, base), budget);
  const { own, shared, grouped } = plan.counts;
  log.info({ layers: plan.layers.length, own, shared, grouped, maxLayers: budget.maxLayers }, `streaming into ${plan.layers.length} model layers (${own} own, ${shared} shared by small files, ${grouped} of grouped large files)`);

  const destination = openRegistryDestination(ctx, image, 'streaming');
  const done = new StreamProgress(ctx, source.label, target);
  const sessions = await UploadSessions.load(workspace);
  // In layer bytes (tar framing included), as the uploads count them.
  const layerBytes = (layer: PlannedLayer<SourceFile>) => tarLayerSize(layer.files.map((f) => ({ path: f.path, fileSize: f.size })));
  const total = plan.layers.reduce((n, l) => n + layerBytes(l), 0);
  const progress = new Progress(log, `stream ${source.label} -> ${destination.label}`, total, settings.progressIntervalSeconds);
  const layers: ModelLayerRecord[] = new Array(plan.layers.length);
  let streamed = 0;
  let skipped = 0;
  let bytesUploaded = 0;
  try {
    await forEachLimit(plan.layers, settings.pushConcurrency(), async (layer, i) => {
      const key = streamedLayerSessionKey(`${destination.registry}/${destination.repository}`, layer.files);
      const finished = await done.finished(key, destination);
      if (finished) {
        layers[i] = finished;
        skipped++;
        progress.add(layerBytes(layer));
        return;
      }
      const result = await streamLayerToRegistry(layer.files, {
        target: destination,
        sessions,
        sessionKey: key,
        onBytes: (n) => progress.add(n),
        signal: ctx.stop.signal,
        log,
      });
      layers[i] = layerRecord(result);
      await done.add(key, result, layer.files);
      streamed++;
      bytesUploaded += result.bytesSent;
    });
  } finally {
    progress.finish();
    destination.close();
  }

  // The image around the layers, pushed as push would: the model layers are in the registry now.
  // Tagged apart from package's `latest`: a later `push` alone finds no packaged image (its model
  // layers are not made from model/) and says to run package, instead of missing blobs.
  const result = await pushImageAroundLayers(ctx, {
    layout,
    base,
    baseReference: baseImage,
    layers,
    image,
    layoutTag: 'streamed',
    ...modelcarFormat(settings),
    layerUploads: { uploaded: streamed, skipped, bytes: bytesUploaded },
  });
  return { uri: result.uri, digest: result.digest, layers: layers.length, layersStreamed: streamed, layersSkipped: skipped, bytesUploaded: bytesUploaded + result.bytesUploaded };
}

function layerRecord(l: StreamedLayer): ModelLayerRecord {
  return { digest: l.digest, size: l.size, files: l.files.map((f) => ({ path: f.path, fileSha256: f.fileSha256, fileSize: f.fileSize })) };
}

/**
 * stream.json: the layers finished in the destination, by content key, written after each one
 * (one write at a time), so that a run after a kill skips them.
 */
class StreamProgress {
  private layers = new Map<string, StreamedLayerRecord>();
  private loaded: Promise<void> | undefined;
  private writing = Promise.resolve();

  constructor(
    private readonly ctx: StepContext,
    private readonly source: string,
    private readonly target: string,
  ) {}

  /** Read once, whichever layer asks first (they ask at the same time). */
  private load(): Promise<void> {
    this.loaded ??= readRecord(this.ctx.workspace, 'stream').then((record) => {
      if (record?.source === this.source && record.target === this.target) for (const l of record.layers) this.layers.set(l.key, l);
    });
    return this.loaded;
  }

  /** The layer recorded under `key`, when the registry still holds its blob. */
  async finished(key: string, destination: RegistryTarget): Promise<ModelLayerRecord | undefined> {
    await this.load();
    const l = this.layers.get(key);
    if (!l || !(await destination.exists({ mediaType: MT.ociLayerTar, digest: l.digest, size: l.size }))) return undefined;
    return { digest: l.digest, size: l.size, files: l.files };
  }

  add(key: string, layer: StreamedLayer, files: readonly SourceFile[]): Promise<void> {
    this.layers.set(key, { key, ...layerRecord(layer), identities: files.map((f) => f.identity) });
    const write = async () => {
      await writeRecord(this.ctx.workspace, 'stream', { source: this.source, target: this.target, layers: [...this.layers.values()], updated: new Date().toISOString() });
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }
}
