// Step package: the model in <storage>/model/ as a KServe modelcar in <storage>/image/ (an OCI
// image layout): pull the base image (all platforms), plan the model layers within the layer
// budget (oci/layer-plan.ts: large files alone, small ones shared), hash each tar layer, append
// the layers to every platform, tag the new root `latest`. Model layers are not copied into
// image/blobs (no second full copy of the model): the package record says how push makes them
// from model/ (see src/oci/modelcar-layout.ts). A re-run with an unchanged model reuses the
// recorded layer digests without reading the files again. --destination-oci-format both adds a
// ModelPack manifest over the same layers; modelpack goes to package-modelpack.ts.
import { refuseSigning } from '../config/signing.js';
import { ModelSyncError } from '../errors.js';
import { planModelLayers, type LayerBudget, type LayerPlan, type PlannedLayer } from '../oci/layer-plan.js';
import { baseLayerCount, buildModelcar } from '../oci/modelcar.js';
import { hashTarLayers, totalCounts } from '../oci/layer-hasher.js';
import { megabytesPerSecond, Progress } from '../util/progress.js';
import { modelLayers, readRecord, type ModelLayerFile, type ModelLayerRecord, type PackageRecord } from '../workspace/records.js';
import { pullBaseImage } from './base-image.js';
import { assertFetchComplete } from './inputs.js';
import { modelFiles, type ModelFile } from './model-files.js';
import { recordPackage } from './package-record.js';
import { packageModelPack } from './package-modelpack.js';
import type { StepContext, StepRunner } from './types.js';

/** Above this many layers images do not start on the overlay runtimes (docs/modelcar.md). */
const RUNTIME_LAYER_LIMIT = 127;

/** The layer budget of the settings, with a warning when it lets images pass what runtimes start. */
export function layerBudget(ctx: StepContext): LayerBudget {
  const budget = ctx.settings.modelcarLayerBudget();
  if (budget.maxLayers > RUNTIME_LAYER_LIMIT) {
    ctx.log.warn({ maxLayers: budget.maxLayers }, `${budget.maxLayersSetting} is ${budget.maxLayers}: images with more layers than ~128 do not start on CRI-O/podman/Docker overlay ("max depth exceeded")`);
  }
  return budget;
}

export const runPackage: StepRunner = async (ctx) => {
  const { settings, workspace, log } = ctx;
  refuseSigning(settings.signing(log)); // before the base image is pulled
  const started = Date.now();
  const output = settings.ociOutput();
  if (output.format === 'modelpack') return packageModelPack(ctx, output);
  const baseImage = settings.baseImage().reference;
  const budget = layerBudget(ctx);
  await assertFetchComplete(workspace);
  const files = await modelFiles(ctx);

  // The layers are hashed while the base is pulled, on the plan for a one-layer base (the layer
  // count of the base changes the plan only near the budget; then the real plan is hashed after
  // the pull). A base that cannot be pulled stops the hashing at once: it still fails in seconds.
  const previous = await readRecord(workspace, 'package');
  const early = speculativePlan(files, budget);
  const hashing = early ? startHashing(ctx, early, previous) : undefined;
  try {
    const { layout, base } = await pullBaseImage(ctx);

    const baseLayers = await baseLayerCount(layout, base);
    const plan = planModelLayers(files, baseLayers, budget);
    const { own, shared, grouped } = plan.counts;
    log.info(
      { layers: plan.layers.length, own, shared, grouped, maxLayers: budget.maxLayers, baseLayers },
      `package: ${plan.layers.length} model layers (${own} own, ${shared} shared by small files, ${grouped} of grouped large files) on ${baseLayers} base layers, budget ${budget.maxLayers}`,
    );
    const hashed = hashing && samePlan(hashing.plan, plan) ? hashing : (hashing?.abort(), startHashing(ctx, plan, previous));
    const layers = await hashed.layers();
    const { root, platforms, attestations, modelpack } = await buildModelcar({ layout, base, layers, log, ...(output.format === 'both' ? { modelpack: output.about } : {}) });
    const removed = await recordPackage(ctx, layout, { ociFormat: output.format, root, base: { image: baseImage, descriptor: base }, layers });
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const seconds = (Date.now() - started) / 1000;
    return {
      results: { 'image-digest': root.digest },
      summary: {
        digest: root.digest,
        base: baseImage,
        baseDigest: base.digest,
        format: output.format,
        ...(modelpack ? { modelpack: modelpack.digest } : {}),
        platforms,
        attestations,
        layers: layers.length,
        bytes,
        staleBlobsRemoved: removed,
        MBps: megabytesPerSecond(bytes, seconds),
      },
    };
  } finally {
    hashing?.abort(); // no-op once finished
  }
};

/** The plan for a one-layer base, when the budget allows one (else there is no early start). */
function speculativePlan(files: ModelFile[], budget: LayerBudget): LayerPlan<ModelFile> | undefined {
  try {
    return planModelLayers(files, 1, budget);
  } catch {
    return undefined;
  }
}

function samePlan(a: LayerPlan<ModelFile>, b: LayerPlan<ModelFile>): boolean {
  const key = (plan: LayerPlan<ModelFile>) => plan.layers.map((l) => l.files.map((f) => f.path).join('\0')).join('\n');
  return key(a) === key(b);
}

interface LayerHashing {
  plan: LayerPlan<ModelFile>;
  /** The records of the plan's layers, in plan order. */
  layers(): Promise<ModelLayerRecord[]>;
  /** Stops the hashing (nothing is logged); a no-op once it is done. */
  abort(): void;
}

/**
 * Starts the digests of each planned layer: reused from the previous record when that record has
 * a layer of the same files in the same order and every one is unchanged (same size and mtime,
 * and the same sha256 when the inventory has one); else hashed on worker threads, in one read of
 * each file. A file whose size and mtime are those fetch recorded keeps fetch's sha256 (only the
 * layer digest is computed); any other file is hashed too, and checked against the inventory.
 */
function startHashing(ctx: StepContext, plan: LayerPlan<ModelFile>, previous: PackageRecord | undefined): LayerHashing {
  const key = (paths: string[]) => paths.join('\0');
  const known = new Map(modelLayers(previous).map((l) => [key(l.files.map((f) => f.path)), l]));
  const unchanged = (f: ModelFile, p: ModelLayerFile | undefined) =>
    !!p && p.path === f.path && p.fileSize === f.size && p.fileMtimeMs === f.mtimeMs && (!f.sha256 || f.sha256 === p.fileSha256);
  const reusable = (layer: PlannedLayer<ModelFile>): ModelLayerRecord | undefined => {
    const p = known.get(key(layer.files.map((f) => f.path)));
    return p && layer.files.every((f, i) => unchanged(f, p.files[i])) ? p : undefined;
  };
  const reused = plan.layers.map(reusable);
  const toHash = plan.layers.filter((_, i) => !reused[i]);
  const stop = new AbortController();
  const progress = new Progress(ctx.log, 'package (hash layers)', toHash.reduce((n, l) => n + l.files.reduce((m, f) => m + f.size, 0), 0), ctx.settings.progressIntervalSeconds);
  const run = async (): Promise<ModelLayerRecord[]> => {
    let counts = { filesRead: 0, bytesRead: 0, fileDigestsComputed: 0 };
    const hashedLayers: ModelLayerRecord[] = [];
    try {
      const hashed = await hashTarLayers(
        toHash.map((layer) => layer.files.map((f) => ({ file: f.file, path: f.path, fileSize: f.size, ...(f.sha256Current ? { knownSha256: f.sha256 } : {}) }))),
        { onBytes: (n) => progress.add(n), signal: stop.signal },
      );
      counts = totalCounts(hashed);
      toHash.forEach((layer, l) => {
        const info = hashed[l]!;
        const files = layer.files.map((f, i): ModelLayerFile => {
          const fileSha256 = info.files[i]!.fileSha256;
          if (f.sha256 && f.sha256 !== fileSha256) {
            throw new ModelSyncError('integrity', `model file ${f.path} has sha256 ${fileSha256} but the inventory says ${f.sha256}: it changed after fetch; run fetch again`);
          }
          return { path: f.path, fileSha256, fileSize: f.size, fileMtimeMs: f.mtimeMs };
        });
        hashedLayers.push({ digest: info.digest, size: info.size, files });
      });
    } finally {
      const { bytes, seconds } = progress.finish();
      if (!stop.signal.aborted) {
        const hashed = toHash.length;
        const fileDigestsReused = toHash.reduce((n, l) => n + l.files.length, 0) - counts.fileDigestsComputed;
        ctx.log.info(
          { layers: plan.layers.length, hashed, reused: plan.layers.length - hashed, bytes, seconds, ...counts, fileDigestsReused },
          `package: ${hashed} layers hashed, ${plan.layers.length - hashed} reused from the previous run; ${counts.filesRead} files read once (${counts.fileDigestsComputed} file digests computed, ${fileDigestsReused} taken from fetch)`,
        );
      }
    }
    let next = 0;
    return plan.layers.map((_, i) => reused[i] ?? hashedLayers[next++]!);
  };
  const result = run();
  result.catch(() => {}); // observed through layers(); until then (the base is being pulled) not unhandled
  let done = false;
  void result.finally(() => (done = true)).catch(() => {});
  return {
    plan,
    layers: () => result,
    abort: () => {
      if (!done) stop.abort();
    },
  };
}
