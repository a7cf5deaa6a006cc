// What assemble trusts before it builds an image (docs/scale-out.md): every part's result, read
// from its tag and checked against the published plan, and every layer blob those results name,
// present in the destination repository. Each check reports all the parts it finds wanting in one
// line, so a fan-out with several failed pods is mended in one go.
import { ModelSyncError } from '../errors.js';
import { MT } from '../oci/media-types.js';
import { decodePartResult, partTag, type PartResultDocument } from '../oci/part-plan.js';
import { pullPartDocument, type StoredPartDocument } from '../oci/part-registry.js';
import { tarLayerSize } from '../oci/tar-layer.js';
import type { RegistryTarget } from '../oci/target-registry.js';
import { forEachLimit } from '../util/concurrency.js';
import type { ModelLayerRecord } from '../workspace/records.js';
import type { PublishedPlan } from './part-context.js';

/** Part documents are small: a few at once is plenty, and N is tens at most. */
const READ_CONCURRENCY = 8;

export interface FinishedPart {
  /** 1-based part number. */
  index: number;
  tag: string;
  /** The result's manifest, for its removal (each is unique to its tag). */
  manifestDigest: string;
  result: PartResultDocument;
}

/** `part I/N`, as the selector `push --part` takes. */
function partName(index: number, parts: number): string {
  return `${index}/${parts}`;
}

/**
 * Every part's result, in part order. A part whose tag is missing, still holds its progress, or
 * holds a result that does not follow the plan is a precondition error naming each such part,
 * its tag and the `push --part` that mends it (retrying assemble cannot help).
 */
export async function readPartResults(target: RegistryTarget, plan: PublishedPlan): Promise<FinishedPart[]> {
  const n = plan.doc.parts;
  const indexes = plan.doc.partList.map((p) => p.index).sort((a, b) => a - b);
  const found: Array<FinishedPart | undefined> = new Array(indexes.length);
  const problems: string[] = new Array(indexes.length);
  await forEachLimit(indexes, READ_CONCURRENCY, async (index, i) => {
    const tag = partTag(target.tag, index, n);
    const where = target.reference(tag);
    const name = partName(index, n);
    const stored = await pullPartDocument(target, tag);
    if (!stored) {
      problems[i] = `part ${name} is missing (no ${where}): run push --part ${name}`;
      return;
    }
    if (stored.artifactType === MT.partProgress) {
      const planned = plan.doc.partList.find((p) => p.index === index)!.layers.length;
      problems[i] = `part ${name} has not finished (${layersDone(stored)} of ${planned} layers, ${where}): run push --part ${name} again`;
      return;
    }
    if (stored.artifactType !== MT.partResult) {
      problems[i] = `part ${name}: ${where} holds ${stored.artifactType}, not a part result`;
      return;
    }
    try {
      found[i] = { index, tag, manifestDigest: stored.manifestDigest, result: checkedResult(stored.text, plan, index) };
    } catch (err) {
      if (!(err instanceof ModelSyncError) || err.kind !== 'precondition') throw err;
      problems[i] = `part ${name} (${where}): ${err.message}; run push --part ${name} again`;
    }
  });
  const wanting = problems.filter((p) => p !== undefined);
  if (wanting.length) {
    throw new ModelSyncError('precondition', `cannot assemble ${target.reference(target.tag ?? 'latest')}: ${wanting.length} of ${indexes.length} parts not ready: ${wanting.join('; ')}`);
  }
  return found as FinishedPart[];
}

/** Layers listed by a progress document (the result's shape, so far); 0 when it lists none. */
function layersDone(stored: StoredPartDocument): number {
  try {
    const layers = (JSON.parse(stored.text) as { layers?: unknown }).layers;
    return Array.isArray(layers) ? layers.length : 0;
  } catch {
    return 0;
  }
}

/** The result under part `index`'s tag, checked against the plan (decodePartResult) and for its own part and layer sizes. */
function checkedResult(text: string, plan: PublishedPlan, index: number): PartResultDocument {
  const result = decodePartResult(text, { plan: plan.doc, planDigest: plan.digest });
  if (result.part !== index) throw new ModelSyncError('precondition', `the result under its tag is part ${result.part}'s`);
  for (const l of result.layers) {
    // A layer's size follows from its files' paths and sizes (which the plan fixed): any other is not that layer.
    const expected = tarLayerSize(l.files.map((f) => ({ path: f.path, fileSize: f.size })));
    if (l.size !== expected) throw new ModelSyncError('precondition', `layer ${l.index} has size ${l.size}, but a layer of its files is ${expected} bytes`);
  }
  return result;
}

/** The model layers of all results, in layer-index order: what buildModelcar appends to the base. */
export function modelLayers(parts: readonly FinishedPart[]): ModelLayerRecord[] {
  return parts
    .flatMap((p) => p.result.layers)
    .sort((a, b) => a.index - b.index)
    .map((l) => ({ digest: l.digest, size: l.size, files: l.files.map((f) => ({ path: f.path, fileSha256: `sha256:${f.sha256}`, fileSize: f.size })) }));
}

/**
 * Every layer blob the results name is in the destination repository. A missing one is a
 * precondition error (not integrity, which is retried): assemble cannot mend it, the part that
 * pushed it can (it skips the blobs present and pushes the rest). All missing blobs are named.
 */
export async function assertLayerBlobsPresent(target: RegistryTarget, parts: readonly FinishedPart[], concurrency: number): Promise<void> {
  const layers = parts.flatMap((p) => p.result.layers.map((layer) => ({ part: partName(p.index, p.result.parts), layer })));
  const missing: typeof layers = [];
  await forEachLimit(layers, concurrency, async (l) => {
    if (!(await target.exists({ mediaType: MT.ociLayerTar, digest: l.layer.digest, size: l.layer.size }))) missing.push(l);
  });
  if (!missing.length) return;
  missing.sort((a, b) => a.layer.index - b.layer.index);
  const rerun = [...new Set(missing.map((m) => m.part))].map((p) => `push --part ${p}`).join(', ');
  const named = missing.map((m) => `blob ${m.layer.digest} (layer ${m.layer.index}, part ${m.part})`).join('; ');
  throw new ModelSyncError('precondition', `cannot assemble: ${target.registry}/${target.repository} lacks ${missing.length === 1 ? 'a layer blob' : `${missing.length} layer blobs`} the parts pushed: ${named}; run ${rerun} again`);
}
