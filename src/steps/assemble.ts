// Step assemble (scale-out, docs/scale-out.md): the image built and tagged from the layers the
// parts pushed. It reads the plan and every part's result from the destination registry, checks
// them (part-results.ts), then builds config, manifests and index on the base the plan pinned the
// way the streaming `all` does (stream-all.ts), so the digest is the one `all` gives for the same
// model and base. Once the image is tagged, the part tags and then the plan are removed: their job
// is done, and the image now keeps the layer blobs alive. A second assemble finds no plan and says
// so, naming the image the tag holds.
import { refuseSigning } from '../config/signing.js';
import { ModelSyncError } from '../errors.js';
import type { ImageEndpoint } from '../oci/credentials.js';
import { planTag } from '../oci/part-plan.js';
import { removePartDocument } from '../oci/part-registry.js';
import type { RegistryTarget } from '../oci/target-registry.js';
import { megabytesPerSecond } from '../util/progress.js';
import { pullBaseImage } from './base-image.js';
import { pushImageAroundLayers } from './image-around-layers.js';
import { openPartTarget, readPublishedPlan, type PublishedPlan } from './part-context.js';
import { assertLayerBlobsPresent, modelLayers, readPartResults, type FinishedPart } from './part-results.js';
import { dropPushResult } from './push-outcome.js';
import type { StepContext, StepOutcome, StepRunner } from './types.js';

export const runAssemble: StepRunner = async (ctx) => {
  refuseSigning(ctx.settings.signing(ctx.log)); // before any byte moves, for either destination
  if (ctx.settings.destinationType() === 's3') return (await import('./parts-s3.js')).assembleS3(ctx);
  return assembleImage(ctx);
};

async function assembleImage(ctx: StepContext): Promise<StepOutcome> {
  const { settings, workspace, log } = ctx;
  const destination = settings.destination();
  if (destination.type !== 'oci') throw new ModelSyncError('internal', 'assemble: an S3 destination goes to parts-s3.ts');
  const image = destination.image;
  const target = openPartTarget(ctx, image);
  try {
    const plan = await planOrAssembled(target, image);
    // From here an old result must not outlive a failure (register would take it). Without a
    // plan it stays: it may be this workspace's earlier assemble of the same tag.
    await dropPushResult(workspace);
    const parts = await readPartResults(target, plan);
    await assertLayerBlobsPresent(target, parts, settings.pushConcurrency());
    const layers = modelLayers(parts);
    const files = layers.reduce((n, l) => n + l.files.length, 0);
    const bytes = layers.reduce((n, l) => n + l.files.reduce((m, f) => m + f.fileSize, 0), 0);
    log.info({ plan: target.reference(plan.tag), parts: parts.length, layers: layers.length, files, bytes, base: plan.doc.base }, `assembling ${layers.length} model layers from ${parts.length} parts on ${plan.doc.base}`);

    const started = Date.now();
    const { layout, base } = await pullBaseImage(ctx, settings.pinnedBaseImage(plan.doc.base));
    // The parts uploaded the layers: push.json counts what assemble itself sent.
    const pushed = await pushImageAroundLayers(ctx, { layout, base, baseReference: plan.doc.base, layers, image, layoutTag: 'assembled', layerUploads: { uploaded: 0, skipped: 0, bytes: 0 }, ...(plan.doc.modelpack ? { format: 'both' as const, about: plan.doc.modelpack } : { format: 'modelcar' as const }) });
    const left = await removeScaleOutTags(ctx, target, plan, parts);
    return {
      results: { 'model-uri': pushed.uri, 'image-digest': pushed.digest, 'model-files': String(files), 'model-bytes': String(bytes) },
      summary: {
        uri: pushed.uri,
        digest: pushed.digest,
        parts: parts.length,
        layers: layers.length,
        files,
        bytes,
        bytesUploaded: pushed.bytesUploaded,
        tagsLeft: left.length,
        MBps: megabytesPerSecond(pushed.bytesUploaded, (Date.now() - started) / 1000),
      },
    };
  } finally {
    target.close();
  }
}

/**
 * The published plan; when there is none but the destination tag holds an image, the message
 * says that a finished assemble removes the plan, so that a second run reads as "done", not as
 * "never planned". Both stay an error: without the plan, nothing ties that image to this run.
 */
async function planOrAssembled(target: RegistryTarget, image: ImageEndpoint): Promise<PublishedPlan> {
  try {
    return await readPublishedPlan(target, image);
  } catch (err) {
    if (!(err instanceof ModelSyncError) || err.kind !== 'notFound') throw err;
    const tagged = await target.resolve().catch(() => undefined);
    if (!tagged) throw err;
    throw new ModelSyncError(
      'notFound',
      `no scale-out plan under ${target.reference(planTag(target.tag))}, and ${target.reference(target.tag ?? 'latest')} holds ${tagged.digest}: assemble removes the plan and part tags once it has tagged the image, so if an earlier assemble tagged this one there is nothing left to assemble (register it); otherwise run plan first, with the same ${image.setting}`,
      { cause: err },
    );
  }
}

/**
 * The part tags, then the plan (a run stopped half-way leaves the plan, which the next plan for
 * this tag replaces). Returns the tags left: where the registry refuses deletes, or a delete
 * failed, one warning names them; the image is tagged, so neither fails the step.
 */
async function removeScaleOutTags(ctx: StepContext, target: RegistryTarget, plan: PublishedPlan, parts: readonly FinishedPart[]): Promise<string[]> {
  const left: string[] = [];
  let reason = 'the registry refuses deletes';
  for (const doc of [...parts.map((p) => ({ tag: p.tag, manifestDigest: p.manifestDigest })), { tag: plan.tag, manifestDigest: plan.manifestDigest }]) {
    try {
      if ((await removePartDocument(target, doc.manifestDigest)) === 'refused') left.push(doc.tag);
    } catch (err) {
      left.push(doc.tag);
      reason = `a delete failed (${(err as Error).message})`;
    }
  }
  if (left.length) {
    ctx.log.warn(
      { tagsLeft: left.map((t) => target.reference(t)) },
      `${reason}: left ${left.length} scale-out tags in ${target.registry}/${target.repository} (${left.join(', ')}); they are small documents, and the next plan for this tag replaces the plan and the parts of the same count`,
    );
  } else {
    ctx.log.info({ removed: parts.length + 1 }, `removed the plan and ${parts.length} part tags`);
  }
  return left;
}
