// Which model files go in which modelcar layer, within a layer budget. Container runtimes mount
// every layer of an image, and containers/storage (CRI-O, podman) and Docker's overlay2 refuse
// images of about 128 layers, so a modelcar must stay below that whatever the number of files.
// The plan is a pure function of (paths, sizes, budget, base layer count, own-layer size): the
// same model always gives the same layers, hence the same digests. The rule (docs/modelcar.md):
// large files keep a layer each (an unchanged weight shard deduplicates on re-push), small files
// share layers of up to 512 MiB in path order, and when that is still too many layers the small
// files, then the large ones, are merged into fewer contiguous runs balanced by bytes.
import { ConfigError } from '../errors.js';

/** Largest shared layer of small files while the budget allows (a file above it stays alone). */
export const SHARED_LAYER_BYTES = 512 * 1024 * 1024;

export interface PlanFile {
  /** Slash-separated path relative to the model folder. */
  path: string;
  size: number;
}

/** The layer budget (from settings: modelcar-max-layers, modelcar-own-layer-bytes). */
export interface LayerBudget {
  /** Most layers the modelcar may have, base layers included. */
  maxLayers: number;
  /** Files of at least this size keep a layer of their own while the budget allows. */
  ownLayerBytes: number;
  /** How the max-layers setting is named in messages (`--flag / MODEL_SYNC_ENV`). */
  maxLayersSetting: string;
}

/**
 * own: one large file alone; shared: small files (possibly one); grouped: a run of large files
 * merged because large files alone exceeded the budget (possibly one, with the small ones apart).
 */
export type PlannedLayerKind = 'own' | 'shared' | 'grouped';

export interface PlannedLayer<F extends PlanFile = PlanFile> {
  kind: PlannedLayerKind;
  /** In path order; never empty. */
  files: F[];
}

export interface LayerPlan<F extends PlanFile = PlanFile> {
  /** Ordered by their first path. */
  layers: Array<PlannedLayer<F>>;
  /** Layers the model may use: budget minus base layers. */
  available: number;
  counts: Record<PlannedLayerKind, number>;
}

/**
 * The layers of `files` (sorted by path, UTF-8 byte order) on a base of `baseLayers` layers (the
 * most of any platform). Throws a ConfigError when the base alone uses up the budget.
 */
export function planModelLayers<F extends PlanFile>(files: readonly F[], baseLayers: number, budget: LayerBudget): LayerPlan<F> {
  const available = budget.maxLayers - baseLayers;
  if (available < 1) {
    throw new ConfigError(
      `${budget.maxLayersSetting} is ${budget.maxLayers}, but the base image already has ${baseLayers} layers (on its largest platform): the model needs at least one more; raise it or use a base image with fewer layers`,
    );
  }
  const large = files.filter((f) => f.size >= budget.ownLayerBytes);
  const small = files.filter((f) => f.size < budget.ownLayerBytes);

  let layers: Array<PlannedLayer<F>>;
  const packed = packSmall(small);
  if (large.length + packed.length <= available) {
    layers = [...large.map((f) => ({ kind: 'own' as const, files: [f] })), ...packed.map((g) => ({ kind: 'shared' as const, files: g }))];
  } else if (small.length > 0 && large.length <= available - 1) {
    // Fewer, larger groups of small files; the large files keep their own layers.
    const groups = splitBalanced(small, available - large.length);
    layers = [...large.map((f) => ({ kind: 'own' as const, files: [f] })), ...groups.map((g) => ({ kind: 'shared' as const, files: g }))];
  } else if (small.length > 0 && available === 1) {
    layers = [{ kind: 'shared', files: [...files] }]; // one layer for everything, in path order
  } else {
    // Large files alone exceed the budget: small files in one layer, large ones in runs.
    const runs = splitBalanced(large, available - (small.length > 0 ? 1 : 0));
    layers = runs.map((g) => ({ kind: 'grouped' as const, files: g }));
    if (small.length > 0) layers.push({ kind: 'shared', files: small });
  }
  layers.sort((a, b) => comparePaths(a.files[0]!.path, b.files[0]!.path));
  const counts: Record<PlannedLayerKind, number> = { own: 0, shared: 0, grouped: 0 };
  for (const l of layers) counts[l.kind]++;
  return { layers, available, counts };
}

/** Small files in path order, a new group whenever the next file would pass SHARED_LAYER_BYTES. */
function packSmall<F extends PlanFile>(small: readonly F[]): F[][] {
  const groups: F[][] = [];
  let current: F[] = [];
  let bytes = 0;
  for (const f of small) {
    if (current.length > 0 && bytes + f.size > SHARED_LAYER_BYTES) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * `items` cut into `k` contiguous, non-empty runs (fewer only when there are fewer items), each
 * cut placed where the running total is nearest to the next multiple of total/k.
 */
export function splitBalanced<F extends PlanFile>(items: readonly F[], k: number): F[][] {
  const n = items.length;
  const runs = Math.min(k, n);
  if (runs <= 1) return n === 0 ? [] : [[...items]];
  const prefix = [0];
  for (const f of items) prefix.push(prefix[prefix.length - 1]! + f.size);
  const total = prefix[n]!;
  const cuts = [0];
  for (let j = 1; j < runs; j++) {
    const target = (total * j) / runs;
    const lo = cuts[j - 1]! + 1; // each run holds at least one item...
    const hi = n - (runs - j); // ...and so does each run after this one
    let i = lo;
    while (i < hi && prefix[i]! < target) i++;
    if (i > lo && target - prefix[i - 1]! < prefix[i]! - target) i--;
    cuts.push(i);
  }
  cuts.push(n);
  const out: F[][] = [];
  for (let j = 0; j < runs; j++) out.push(items.slice(cuts[j], cuts[j + 1]));
  return out;
}

/** Lexicographic order of the UTF-8 bytes (as ModelPack and Go's sort.Strings order paths). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
