// What plan, push --part and assemble share for a registry destination (docs/scale-out.md): the
// destination opened as a registry target, and the plan read back from it and checked.
import { ConfigError, ModelSyncError } from '../errors.js';
import type { ImageEndpoint } from '../oci/credentials.js';
import { MT } from '../oci/media-types.js';
import { decodePartPlan, planTag, type PartPlanDocument } from '../oci/part-plan.js';
import { pullPartDocument } from '../oci/part-registry.js';
import { parseImageLocation } from '../oci/reference.js';
import type { RegistryTarget } from '../oci/target-registry.js';
import { openRegistryDestination } from './registry-destination.js';
import type { StepContext } from './types.js';

/** The destination registry; an oci: layout is refused (parts on other nodes cannot reach it). */
export function openPartTarget(ctx: StepContext, image: ImageEndpoint): RegistryTarget {
  if (parseImageLocation(image.reference, image.setting).kind === 'layout') {
    throw new ConfigError(`${image.setting}: a scale-out run needs a registry destination, not an oci: image layout (parts on other nodes cannot reach it)`);
  }
  return openRegistryDestination(ctx, image, 'a scale-out run');
}

/** `host[:port]/repository` of a registry target: what a plan names as its destination. */
export function repositoryOf(target: RegistryTarget): string {
  return `${target.registry}/${target.repository}`;
}

export interface PublishedPlan {
  /** A registry plan always pins its base (decodePartPlan allows none only for s3:// plans). */
  doc: PartPlanDocument & { base: string };
  /** partPlanDigest of the plan: what each part's result names. */
  digest: string;
  tag: string;
  /** The plan's manifest, for its removal. */
  manifestDigest: string;
}

/** The plan `plan` published for this destination, checked; a missing one says to run plan. */
export async function readPublishedPlan(target: RegistryTarget, image: ImageEndpoint): Promise<PublishedPlan> {
  const tag = planTag(target.tag);
  const stored = await pullPartDocument(target, tag);
  if (!stored) {
    throw new ModelSyncError('notFound', `no scale-out plan under ${target.reference(tag)}: run plan first, with the same ${image.setting}`);
  }
  if (stored.artifactType !== MT.partPlan) {
    throw new ModelSyncError('precondition', `${target.reference(tag)} holds ${stored.artifactType}, not a scale-out plan`);
  }
  const doc = decodePartPlan(stored.text);
  if (doc.repository !== repositoryOf(target)) {
    throw new ModelSyncError('precondition', `the plan under ${target.reference(tag)} is for ${doc.repository}, not ${repositoryOf(target)}`);
  }
  const { base } = doc;
  if (!base) throw new ModelSyncError('precondition', `the plan under ${target.reference(tag)} pins no base image`);
  return { doc: { ...doc, base }, digest: stored.documentDigest, tag, manifestDigest: stored.manifestDigest };
}
