// Step plan (scale-out, docs/scale-out.md): the source listed (no byte of the model read), the
// base image pulled and pinned by digest, the modelcar layers planned exactly as the streaming
// `all` plans them, and whole layers shared out among --parts parts. The plan goes to the
// destination registry under <tag>.model-sync-plan, where the parts and assemble find it without
// a shared volume, and to .model-sync/plan.json.
import { ConfigError, ModelSyncError } from '../errors.js';
import { planModelLayers } from '../oci/layer-plan.js';
import { MT } from '../oci/media-types.js';
import { baseLayerCount } from '../oci/modelcar.js';
import { encodePartPlan, partPlanDigest, partPlanDocument, planParts, planTag } from '../oci/part-plan.js';
import { pushPartDocument } from '../oci/part-registry.js';
import { formatReference, parseImageLocation } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { writeRecord } from '../workspace/records.js';
import { pullBaseImage } from './base-image.js';
import { layerBudget } from './package.js';
import { openPartTarget, repositoryOf } from './part-context.js';
import { openPartSource } from './part-source.js';
import type { StepRunner } from './types.js';

// plan reads no byte of the model: ranged reads are never started, whatever these say.
const LIST_ONLY = { partSize: 8 * 1024 * 1024, threshold: Number.MAX_SAFE_INTEGER };

export const runPlan: StepRunner = async (ctx) => {
  if (ctx.settings.destinationType() === 's3') return (await import('./parts-s3.js')).planS3(ctx);
  const { settings, workspace, log } = ctx;
  const destination = settings.destination();
  if (destination.type !== 'oci') throw new ModelSyncError('internal', `plan: unexpected destination type ${destination.type}`);
  const output = settings.ociOutput();
  if (output.format === 'modelpack') {
    throw new ConfigError(`${output.setting} is modelpack: scale-out pushes modelcar layers, so plan takes modelcar or both (a ModelPack manifest over the same layers); push a ModelPack-only artifact with all or the separate steps`);
  }
  const target = openPartTarget(ctx, destination.image);
  const budget = layerBudget(ctx);
  const requested = settings.partCount();
  const source = await openPartSource(ctx, 'plan', { concurrency: 4, tuning: LIST_ONLY });
  try {
    const { layout, base, reference } = await pullBaseImage(ctx);
    const pinned = pinBase(reference, base);
    const layers = planModelLayers(source.files, await baseLayerCount(layout, base), budget);
    const split = planParts(layers.layers, requested);
    const doc = partPlanDocument(split, {
      source: source.label,
      repository: repositoryOf(target),
      base: pinned,
      budget: { maxLayers: budget.maxLayers, ownLayerBytes: budget.ownLayerBytes },
      ...(output.format === 'both' ? { modelpack: output.about } : {}),
    });
    const json = encodePartPlan(doc);
    const digest = partPlanDigest(json);
    const tag = planTag(target.tag);
    await pushPartDocument(target, { tag, artifactType: MT.partPlan, json });
    const selectors = split.parts.map((p) => `${p.index}/${split.parts.length}`);
    const files = source.files.length;
    const bytes = source.files.reduce((n, f) => n + f.size, 0);
    await writeRecord(workspace, 'plan', {
      target: settings.destinationTarget()!,
      published: target.reference(tag),
      digest,
      parts: selectors,
      plan: JSON.parse(json) as Record<string, unknown>,
      finished: new Date().toISOString(),
    });
    const shares = split.parts.map((p) => `${p.index}/${split.parts.length}: ${p.layers.length} layers, ${p.bytes} bytes`);
    log.info(
      { parts: selectors, requested, layers: split.layerCount, partBytes: split.parts.map((p) => p.bytes), plan: digest, published: target.reference(tag), base: pinned },
      `planned ${split.parts.length} parts${split.parts.length < requested ? ` (${requested} asked for, the model has ${split.layerCount} layers)` : ''} of ${split.layerCount} layers: ${shares.join('; ')}`,
    );
    return {
      results: { parts: JSON.stringify(selectors), 'plan-digest': digest, 'model-files': String(files), 'model-bytes': String(bytes) },
      summary: { parts: selectors.length, requested, layers: split.layerCount, files, bytes, plan: digest, base: pinned },
    };
  } finally {
    source.close();
    target.close();
  }
};

/**
 * The base by digest, so every part and assemble build on the same image: same repository,
 * the tag dropped. An oci: layout (a folder on this node, for local runs) has no digest form and
 * stays as given.
 */
function pinBase(reference: string, base: Descriptor): string {
  const location = parseImageLocation(reference);
  if (location.kind === 'layout') return reference;
  const { tag: _tag, ...ref } = location.ref;
  return formatReference({ ...ref, digest: base.digest });
}
