// Scale-out foundation (issue 15, docs/scale-out.md): the model's layers, as planModelLayers
// decides them, shared out among N parts that push in parallel, and the two small documents the
// parts meet through in the registry (the plan, and each part's result). Pure: no I/O.
//
// A layer is never split: the layer budget and the layer digests come from planModelLayers alone,
// so the assembled image is the one `all` builds whatever N is. Parts are numbered from 1
// (`--part 1/3` … `3/3`, `<tag>.model-sync-part-1-of-3`); layer indexes are 0-based positions
// in the plan's (and the image's) layer order.
import { createHash } from 'node:crypto';
import { ModelSyncError } from '../errors.js';
import type { PlanFile, PlannedLayer, PlannedLayerKind } from './layer-plan.js';
import type { ModelPackDescription } from './modelpack.js';
import { tarLayerSize } from './tar-layer.js';

export interface PartLayer<F extends PlanFile = PlanFile> {
  /** Position of the layer in the plan, hence in the image (0-based). */
  index: number;
  /** Size of the layer's tar (tarLayerSize of its files). */
  bytes: number;
  layer: PlannedLayer<F>;
}

export interface PlanPart<F extends PlanFile = PlanFile> {
  /** 1-based part number. */
  index: number;
  /** Ordered by layer index; never empty. */
  layers: Array<PartLayer<F>>;
  bytes: number;
}

export interface PartPlan<F extends PlanFile = PlanFile> {
  /** Parts asked for; `parts.length` is smaller when the model has fewer layers. */
  requested: number;
  parts: Array<PlanPart<F>>;
  layerCount: number;
}

/**
 * `layers` shared out among `parts` parts, balanced by layer bytes.
 *
 * Rule: largest layer first (ties: lower layer index), each onto the part with the fewest bytes
 * so far (ties: lower part number). The wall time of a fan-out is its heaviest part, and this
 * greedy rule keeps that within 4/3 of the best possible; contiguous runs (splitBalanced) can
 * leave one part with most of the small layers next to a huge one. Contiguity would buy nothing
 * for the image: each entry keeps its layer index, so the image's layer order is the plan's order
 * whatever the grouping, and resume works per layer blob.
 *
 * With fewer layers than parts, there are as many parts as layers (one layer each): every part
 * listed is non-empty, and the plan's result lists only those, so the fan-out runs that many.
 * Throws when there is no layer, or `parts` is not a positive integer (config validates it first).
 */
export function planParts<F extends PlanFile>(layers: readonly PlannedLayer<F>[], parts: number): PartPlan<F> {
  if (!Number.isSafeInteger(parts) || parts < 1) throw new Error(`the number of parts must be a positive integer, got ${parts}`);
  if (layers.length === 0) throw new ModelSyncError('precondition', 'the model has no layers to split into parts');
  const count = Math.min(parts, layers.length);
  const entries: Array<PartLayer<F>> = layers.map((layer, index) => ({
    index,
    bytes: tarLayerSize(layer.files.map((f) => ({ path: f.path, fileSize: f.size }))),
    layer,
  }));
  const out: Array<PlanPart<F>> = Array.from({ length: count }, (_, i) => ({ index: i + 1, layers: [], bytes: 0 }));
  const bySize = [...entries].sort((a, b) => b.bytes - a.bytes || a.index - b.index);
  for (const entry of bySize) {
    let lightest = out[0]!;
    for (const p of out) if (p.bytes < lightest.bytes) lightest = p; // first of equals: lower number
    lightest.layers.push(entry);
    lightest.bytes += entry.bytes;
  }
  for (const p of out) p.layers.sort((a, b) => a.index - b.index);
  return { requested: parts, parts: out, layerCount: layers.length };
}

// ---- Documents ---------------------------------------------------------------------------------

export const PART_PLAN_FORMAT = 'model-sync.part-plan';
export const PART_RESULT_FORMAT = 'model-sync.part-result';
export const PART_DOCUMENT_VERSION = 1;

export interface PartPlanFile {
  path: string;
  size: number;
  /** The source's version of the file (stream-source SourceIdentity), opaque here. */
  identity: Record<string, unknown>;
}

export interface PartPlanDocument {
  format: typeof PART_PLAN_FORMAT;
  version: typeof PART_DOCUMENT_VERSION;
  /** The source label (s3://b/k, hf://org/m:rev, …). */
  source: string;
  /** Destination registry and repository, without tag: `host[:port]/repo`; for an S3 destination its URI, `s3://bucket/prefix`. */
  repository: string;
  /**
   * The base image as resolved by plan (pinned by digest, so every part and assemble agree).
   * Absent exactly when the destination is S3 (`repository` is an s3:// URI): no image is built there.
   */
  base?: string;
  budget: { maxLayers: number; ownLayerBytes: number };
  /**
   * Present for --destination-oci-format both: assemble adds a ModelPack manifest with this
   * description over the same layers, so every run of the plan builds the same image.
   */
  modelpack?: ModelPackDescription;
  /** Number of parts (after the fewer-layers rule). */
  parts: number;
  /** Number of model layers; the parts' layer indexes cover 0..layers-1 exactly once. */
  layers: number;
  partList: Array<{ index: number; layers: Array<{ index: number; kind: PlannedLayerKind; files: PartPlanFile[] }> }>;
}

export interface PartResultLayer {
  index: number;
  digest: string;
  size: number;
  files: Array<{ path: string; size: number; sha256: string }>;
}

export interface PartResultDocument {
  format: typeof PART_RESULT_FORMAT;
  version: typeof PART_DOCUMENT_VERSION;
  /** 1-based part number. */
  part: number;
  parts: number;
  /** partPlanDigest of the plan document this part followed. */
  plan: string;
  /** Ordered by layer index. */
  layers: PartResultLayer[];
}

/** The plan document of `plan`. */
// `identity: object` so that interfaces (SourceIdentity) fit; it is carried as JSON, unread.
export function partPlanDocument<F extends PlanFile & { identity: object }>(
  plan: PartPlan<F>,
  meta: { source: string; repository: string; base?: string; budget: { maxLayers: number; ownLayerBytes: number }; modelpack?: ModelPackDescription },
): PartPlanDocument {
  return {
    format: PART_PLAN_FORMAT,
    version: PART_DOCUMENT_VERSION,
    source: meta.source,
    repository: meta.repository,
    ...(meta.base !== undefined ? { base: meta.base } : {}),
    budget: { maxLayers: meta.budget.maxLayers, ownLayerBytes: meta.budget.ownLayerBytes },
    ...(meta.modelpack ? { modelpack: { ...meta.modelpack } } : {}),
    parts: plan.parts.length,
    layers: plan.layerCount,
    partList: plan.parts.map((p) => ({
      index: p.index,
      layers: p.layers.map((l) => ({ index: l.index, kind: l.layer.kind, files: l.layer.files.map((f) => ({ path: f.path, size: f.size, identity: { ...f.identity } as Record<string, unknown> })) })),
    })),
  };
}

/** The plan's JSON, validated first; its digest (partPlanDigest) is the one parts record. */
export function encodePartPlan(doc: PartPlanDocument): string {
  return JSON.stringify(checkPlan(doc));
}

export function decodePartPlan(text: string): PartPlanDocument {
  return checkPlan(parseJson(text, 'part plan'));
}

/** sha256 of the encoded plan's bytes: the digest of its blob once pushed. */
export function partPlanDigest(encoded: string): string {
  return `sha256:${createHash('sha256').update(encoded, 'utf8').digest('hex')}`;
}

export function encodePartResult(doc: PartResultDocument): string {
  return JSON.stringify(checkResult(doc));
}

/**
 * A part's result, validated on its own and, when `expected` is given, against the plan it
 * claims to follow: same plan digest and part count, exactly the layers and files the plan gave it.
 */
export function decodePartResult(text: string, expected?: { plan: PartPlanDocument; planDigest: string }): PartResultDocument {
  const doc = checkResult(parseJson(text, 'part result'));
  if (expected) {
    const what = `part result ${doc.part}/${doc.parts}`;
    if (doc.plan !== expected.planDigest) fail(`${what} follows plan ${doc.plan}, not ${expected.planDigest}`);
    if (doc.parts !== expected.plan.parts) fail(`${what} is for ${doc.parts} parts, the plan has ${expected.plan.parts}`);
    const planned = expected.plan.partList.find((p) => p.index === doc.part)!;
    const want = planned.layers.map((l) => l.index).join(',');
    if (doc.layers.map((l) => l.index).join(',') !== want) fail(`${what} lists layers [${doc.layers.map((l) => l.index).join(',')}], the plan gives it [${want}]`);
    doc.layers.forEach((l, i) => {
      const files = planned.layers[i]!.files;
      const same = l.files.length === files.length && l.files.every((f, j) => f.path === files[j]!.path && f.size === files[j]!.size);
      if (!same) fail(`${what}: layer ${l.index} does not hold the files the plan gives it`);
    });
  }
  return doc;
}

// ---- Validation (one-line precondition errors) -------------------------------------------------

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const S3_DESTINATION = 's3://';
const SHA256 = /^[a-f0-9]{64}$/;
const KINDS: readonly string[] = ['own', 'shared', 'grouped'] satisfies PlannedLayerKind[];

function fail(message: string): never {
  throw new ModelSyncError('precondition', message);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fail(`${what} is not valid JSON`);
  }
}

type Obj = Record<string, unknown>;
function obj(v: unknown, at: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${at} must be an object`);
  return v as Obj;
}
function str(o: Obj, key: string, at: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') fail(`${at}.${key} must be a non-empty string`);
  return v;
}
function int(o: Obj, key: string, at: string, min: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(`${at}.${key} must be an integer of at least ${min}`);
  return v;
}
function arr(o: Obj, key: string, at: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length === 0) fail(`${at}.${key} must be a non-empty array`);
  return v;
}
function header(o: Obj, format: string, at: string): void {
  if (o.format !== format) fail(`${at} has format ${JSON.stringify(o.format)}, expected ${format}`);
  if (o.version !== PART_DOCUMENT_VERSION) fail(`${at} has version ${JSON.stringify(o.version)}; this model-sync reads version ${PART_DOCUMENT_VERSION}`);
}

// Rebuilds the document from the checked fields only, so unknown keys do not travel on.
function checkPlan(input: unknown): PartPlanDocument {
  const at = 'part plan';
  const o = obj(input, at);
  header(o, PART_PLAN_FORMAT, at);
  const budget = obj(o.budget, `${at}.budget`);
  const parts = int(o, 'parts', at, 1);
  const layers = int(o, 'layers', at, 1);
  const list = arr(o, 'partList', at);
  if (list.length !== parts) fail(`${at} lists ${list.length} parts but says parts: ${parts}`);
  const seenParts = new Set<number>();
  const owner = new Map<number, number>();
  const partList = list.map((p, i) => {
    const pat = `${at}.partList[${i}]`;
    const po = obj(p, pat);
    const index = int(po, 'index', pat, 1);
    if (index > parts) fail(`${pat}.index is ${index}, out of range 1..${parts}`);
    if (seenParts.has(index)) fail(`${at} lists part ${index} twice`);
    seenParts.add(index);
    return {
      index,
      layers: arr(po, 'layers', pat).map((l, j) => {
        const lat = `${pat}.layers[${j}]`;
        const lo = obj(l, lat);
        const li = int(lo, 'index', lat, 0);
        if (li >= layers) fail(`${lat}.index is ${li}, out of range 0..${layers - 1}`);
        const prev = owner.get(li);
        if (prev !== undefined) fail(`${at}: layer ${li} is in part ${prev} and part ${index}`);
        owner.set(li, index);
        const kind = lo.kind;
        if (typeof kind !== 'string' || !KINDS.includes(kind)) fail(`${lat}.kind must be one of ${KINDS.join(', ')}`);
        return {
          index: li,
          kind: kind as PlannedLayerKind,
          files: arr(lo, 'files', lat).map((f, k) => {
            const fat = `${lat}.files[${k}]`;
            const fo = obj(f, fat);
            return { path: str(fo, 'path', fat), size: int(fo, 'size', fat, 0), identity: obj(fo.identity, `${fat}.identity`) };
          }),
        };
      }),
    };
  });
  for (let li = 0; li < layers; li++) if (!owner.has(li)) fail(`${at}: layer ${li} is in no part`);
  const repository = str(o, 'repository', at);
  // An S3 destination builds no image, so its plan pins no base; a registry plan must.
  const base = repository.startsWith(S3_DESTINATION) && o.base === undefined ? undefined : str(o, 'base', at);
  return {
    format: PART_PLAN_FORMAT,
    version: PART_DOCUMENT_VERSION,
    source: str(o, 'source', at),
    repository,
    ...(base !== undefined ? { base } : {}),
    budget: { maxLayers: int(budget, 'maxLayers', `${at}.budget`, 1), ownLayerBytes: int(budget, 'ownLayerBytes', `${at}.budget`, 0) },
    ...(o.modelpack !== undefined ? { modelpack: modelPackDescriptionOf(obj(o.modelpack, `${at}.modelpack`), `${at}.modelpack`) } : {}),
    parts,
    layers,
    partList,
  };
}

function modelPackDescriptionOf(o: Obj, at: string): ModelPackDescription {
  const out: ModelPackDescription = {};
  for (const key of ['name', 'version', 'createdAt'] as const) if (o[key] !== undefined) out[key] = str(o, key, at);
  return out;
}

function checkResult(input: unknown): PartResultDocument {
  const at = 'part result';
  const o = obj(input, at);
  header(o, PART_RESULT_FORMAT, at);
  const parts = int(o, 'parts', at, 1);
  const part = int(o, 'part', at, 1);
  if (part > parts) fail(`${at}.part is ${part}, out of range 1..${parts}`);
  const plan = str(o, 'plan', at);
  if (!DIGEST.test(plan)) fail(`${at}.plan must be a sha256: digest`);
  let last = -1;
  const layers = arr(o, 'layers', at).map((l, j) => {
    const lat = `${at}.layers[${j}]`;
    const lo = obj(l, lat);
    const index = int(lo, 'index', lat, 0);
    if (index <= last) fail(`${lat}.index is ${index}: layer indexes must increase (no repeats)`);
    last = index;
    const digest = str(lo, 'digest', lat);
    if (!DIGEST.test(digest)) fail(`${lat}.digest must be a sha256: digest`);
    return {
      index,
      digest,
      size: int(lo, 'size', lat, 1),
      files: arr(lo, 'files', lat).map((f, k) => {
        const fat = `${lat}.files[${k}]`;
        const fo = obj(f, fat);
        const sha256 = str(fo, 'sha256', fat);
        if (!SHA256.test(sha256)) fail(`${fat}.sha256 must be 64 lowercase hex digits`);
        return { path: str(fo, 'path', fat), size: int(fo, 'size', fat, 0), sha256 };
      }),
    };
  });
  return { format: PART_RESULT_FORMAT, version: PART_DOCUMENT_VERSION, part, parts, plan, layers };
}

// ---- Derived tags and the part selector --------------------------------------------------------

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MAX_TAG = 128;

/** The tag `plan` pushes the plan under, derived from the destination tag (`latest` when none). */
export function planTag(tag: string | undefined): string {
  return derivedTag(tag, '.model-sync-plan');
}

/** The tag part `index` of `parts` pushes its result under. */
export function partTag(tag: string | undefined, index: number, parts: number): string {
  checkSelector(index, parts);
  return derivedTag(tag, `.model-sync-part-${index}-of-${parts}`);
}

// A base too long for the suffix keeps its start and gains 8 hex digits of the whole tag's
// sha256, so two long tags with the same start still give distinct derived tags.
function derivedTag(tag: string | undefined, suffix: string): string {
  const base = tag ?? 'latest';
  if (!TAG.test(base)) throw new Error(`invalid destination tag "${base}"`);
  if (base.length + suffix.length <= MAX_TAG) return base + suffix;
  const hash = createHash('sha256').update(base, 'utf8').digest('hex').slice(0, 8);
  return `${base.slice(0, MAX_TAG - suffix.length - hash.length - 1)}-${hash}${suffix}`;
}

/**
 * `I/N` (1 ≤ I ≤ N, decimal, as the plan's result lists them) → {index, parts}. Throws an Error
 * whose message the config layer prefixes with `--part / MODEL_SYNC_PART`.
 */
export function parsePartSelector(text: string): { index: number; parts: number } {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  if (!m) throw new Error(`expected I/N (part I of N, counted from 1), got "${text}"`);
  const index = Number(m[1]);
  const parts = Number(m[2]);
  checkSelector(index, parts, text);
  return { index, parts };
}

function checkSelector(index: number, parts: number, text = `${index}/${parts}`): void {
  if (!Number.isSafeInteger(parts) || parts < 1) throw new Error(`"${text}": N must be at least 1`);
  if (!Number.isSafeInteger(index) || index < 1 || index > parts) throw new Error(`"${text}": I must be between 1 and ${parts} (parts are counted from 1)`);
}
