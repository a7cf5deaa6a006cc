// A part's result for an S3 destination (docs/scale-out.md): the files it copied under the prefix,
// and the plan it followed. The registry's result (oci/part-plan.ts) lists layer descriptors and
// file digests, which an S3 copy has none of: ETags of multipart objects are not content digests,
// and the upload skips objects already present without reading them.
import { ModelSyncError } from '../errors.js';
import type { PartPlanDocument } from '../oci/part-plan.js';

export const S3_PART_RESULT_FORMAT = 'model-sync.s3-part-result';
export const S3_PART_RESULT_VERSION = 1;

export interface S3PartResultDocument {
  format: typeof S3_PART_RESULT_FORMAT;
  version: typeof S3_PART_RESULT_VERSION;
  /** 1-based part number. */
  part: number;
  parts: number;
  /** partPlanDigest of the plan this part followed. */
  plan: string;
  /** The part's files, in the plan's order: objects <prefix>/<path> of these sizes. */
  files: Array<{ path: string; size: number }>;
}

/** The files part `index` of the plan copies, in the plan's order. */
export function plannedFiles(plan: PartPlanDocument, index: number): Array<{ path: string; size: number; identity: Record<string, unknown> }> {
  const part = plan.partList.find((p) => p.index === index);
  if (!part) throw new ModelSyncError('precondition', `the plan has no part ${index} (it has ${plan.parts})`);
  return part.layers.flatMap((l) => l.files);
}

export function s3PartResult(plan: PartPlanDocument, planDigest: string, index: number): S3PartResultDocument {
  return {
    format: S3_PART_RESULT_FORMAT,
    version: S3_PART_RESULT_VERSION,
    part: index,
    parts: plan.parts,
    plan: planDigest,
    files: plannedFiles(plan, index).map((f) => ({ path: f.path, size: f.size })),
  };
}

export function encodeS3PartResult(doc: S3PartResultDocument): string {
  return JSON.stringify(doc);
}

/**
 * A stored result, checked against the plan: its format, the plan digest, the part count and
 * exactly the files (paths and sizes) the plan gives the part. One-line precondition errors.
 */
export function decodeS3PartResult(text: string, expected: { plan: PartPlanDocument; planDigest: string; part: number }): S3PartResultDocument {
  const what = `part result ${expected.part}/${expected.plan.parts}`;
  const fail = (why: string): never => {
    throw new ModelSyncError('precondition', `${what} ${why}`);
  };
  let doc: Partial<S3PartResultDocument>;
  try {
    doc = JSON.parse(text) as Partial<S3PartResultDocument>;
  } catch {
    return fail('is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null) return fail('is not an object');
  if (doc.format !== S3_PART_RESULT_FORMAT) fail(`has format ${JSON.stringify(doc.format)}, expected ${S3_PART_RESULT_FORMAT}`);
  if (doc.version !== S3_PART_RESULT_VERSION) fail(`has version ${JSON.stringify(doc.version)}; this model-sync reads version ${S3_PART_RESULT_VERSION}`);
  if (doc.plan !== expected.planDigest) fail(`follows plan ${JSON.stringify(doc.plan)}, not ${expected.planDigest}`);
  if (doc.parts !== expected.plan.parts || doc.part !== expected.part) fail(`says it is part ${JSON.stringify(doc.part)} of ${JSON.stringify(doc.parts)}`);
  const want = plannedFiles(expected.plan, expected.part);
  const files = Array.isArray(doc.files) ? doc.files : [];
  const same = files.length === want.length && files.every((f, i) => f?.path === want[i]!.path && f?.size === want[i]!.size);
  if (!same) fail('does not list the files the plan gives the part');
  return { format: S3_PART_RESULT_FORMAT, version: S3_PART_RESULT_VERSION, part: expected.part, parts: expected.plan.parts, plan: expected.planDigest, files: want.map((f) => ({ path: f.path, size: f.size })) };
}
