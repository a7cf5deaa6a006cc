// The layer planner on synthetic sizes: large files alone, small files packed in path order,
// merging when the budget is short (small files first, then large ones in balanced runs), the
// order of the layers, determinism, and the budget error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { comparePaths, planModelLayers, SHARED_LAYER_BYTES, splitBalanced, type LayerBudget, type PlanFile } from '../src/oci/layer-plan.js';

const MiB = 1024 * 1024;
const OWN = 16 * MiB;
const budget = (maxLayers: number, ownLayerBytes = OWN): LayerBudget => ({ maxLayers, ownLayerBytes, maxLayersSetting: '--modelcar-max-layers / MODEL_SYNC_MODELCAR_MAX_LAYERS' });
const sorted = (files: PlanFile[]) => [...files].sort((a, b) => comparePaths(a.path, b.path));
const paths = (plan: { layers: Array<{ files: PlanFile[] }> }) => plan.layers.map((l) => l.files.map((f) => f.path));
const bytes = (files: PlanFile[]) => files.reduce((n, f) => n + f.size, 0);

/** A checkpoint in `shards` shards of `shardBytes`, with tokenizer and config files. */
function checkpoint(shards: number, shardBytes: number): PlanFile[] {
  const files: PlanFile[] = [
    { path: 'config.json', size: 700 },
    { path: 'generation_config.json', size: 200 },
    { path: 'model.safetensors.index.json', size: 90_000 },
    { path: 'tokenizer.json', size: 9 * MiB },
    { path: 'tokenizer_config.json', size: 50_000 },
  ];
  for (let i = 1; i <= shards; i++) files.push({ path: `model-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`, size: shardBytes + i });
  return sorted(files);
}

/** Every file exactly once, in path order inside each layer, layers ordered by first path. */
function assertWellFormed(plan: ReturnType<typeof planModelLayers>, files: PlanFile[]): void {
  const all = plan.layers.flatMap((l) => l.files.map((f) => f.path));
  assert.deepEqual([...all].sort(comparePaths), files.map((f) => f.path), 'each file once');
  for (const l of plan.layers) {
    assert.ok(l.files.length > 0, 'no empty layer');
    for (let i = 1; i < l.files.length; i++) assert.ok(comparePaths(l.files[i - 1]!.path, l.files[i]!.path) < 0, 'path order inside a layer');
  }
  for (let i = 1; i < plan.layers.length; i++) assert.ok(comparePaths(plan.layers[i - 1]!.files[0]!.path, plan.layers[i]!.files[0]!.path) < 0, 'layers by first path');
  assert.ok(plan.layers.length <= plan.available, `${plan.layers.length} layers within ${plan.available}`);
}

describe('layer plan', () => {
  it('a 2-file model (config + weights) keeps one layer per file', () => {
    const files = sorted([{ path: 'config.json', size: 300 }, { path: 'model.safetensors', size: 500 * MiB }]);
    const plan = planModelLayers(files, 1, budget(100));
    assert.deepEqual(paths(plan), [['config.json'], ['model.safetensors']]);
    assert.deepEqual(plan.layers.map((l) => l.kind), ['shared', 'own']);
    assert.equal(plan.available, 99);
  });

  it('gives large files a layer each and packs small files in path order into shared layers of at most 512 MiB', () => {
    const files = sorted([
      ...Array.from({ length: 40 }, (_, i) => ({ path: `small/${String(i).padStart(2, '0')}.bin`, size: 15 * MiB })), // 600 MiB in all
      { path: 'weights/a.safetensors', size: 2000 * MiB },
      { path: 'weights/b.safetensors', size: OWN }, // exactly the threshold: large
      { path: 'weights/c.json', size: OWN - 1 }, // just below: small
    ]);
    const plan = planModelLayers(files, 1, budget(100));
    assertWellFormed(plan, files);
    assert.deepEqual(plan.counts, { own: 2, shared: 2, grouped: 0 });
    const shared = plan.layers.filter((l) => l.kind === 'shared');
    assert.equal(shared[0]!.files.length, 34, '34 × 15 MiB = 510 MiB; the 35th would pass 512 MiB');
    assert.deepEqual(shared[1]!.files.map((f) => f.path), [...Array.from({ length: 6 }, (_, i) => `small/${34 + i}.bin`), 'weights/c.json']);
    assert.ok(shared.every((l) => bytes(l.files) <= SHARED_LAYER_BYTES));
    assert.deepEqual(plan.layers.map((l) => l.files[0]!.path), ['small/00.bin', 'small/34.bin', 'weights/a.safetensors', 'weights/b.safetensors']);
  });

  it('puts a small file larger than a shared layer alone (own-layer size set above 512 MiB)', () => {
    const files = sorted([{ path: 'a', size: 10 }, { path: 'b', size: 600 * MiB }, { path: 'c', size: 10 }]);
    const plan = planModelLayers(files, 1, budget(100, 1024 * MiB));
    assert.deepEqual(paths(plan), [['a'], ['b'], ['c']]);
    assert.ok(plan.layers.every((l) => l.kind === 'shared'));
  });

  it('2,000 small files on a 1-layer base: 1 shared layer under 512 MiB', () => {
    const files = sorted(Array.from({ length: 2000 }, (_, i) => ({ path: `f/${i}.txt`, size: 1000 + i })));
    const plan = planModelLayers(files, 1, budget(100));
    assertWellFormed(plan, files);
    assert.equal(plan.layers.length, 1);
    assert.equal(plan.layers[0]!.files.length, 2000);
  });

  it('merges small files into fewer, byte-balanced groups when singles + shared groups exceed the budget', () => {
    // 97 large files and 3 shared layers' worth of small ones (1,200 MiB); 99 layers available: 2 small groups.
    const files = sorted([
      ...Array.from({ length: 97 }, (_, i) => ({ path: `w/${String(i).padStart(3, '0')}`, size: 100 * MiB })),
      ...Array.from({ length: 100 }, (_, i) => ({ path: `s/${String(i).padStart(3, '0')}`, size: 10 * MiB + (i % 5) * MiB })),
    ]);
    const plan = planModelLayers(files, 1, budget(100));
    assertWellFormed(plan, files);
    assert.equal(plan.layers.length, 99);
    assert.deepEqual(plan.counts, { own: 97, shared: 2, grouped: 0 });
    const groups = plan.layers.filter((l) => l.kind === 'shared').map((l) => bytes(l.files));
    const mean = groups.reduce((a, b) => a + b, 0) / groups.length;
    for (const g of groups) assert.ok(Math.abs(g - mean) <= 14 * MiB, `group of ${g / MiB} MiB near ${mean / MiB} MiB`);
  });

  it('groups large files into contiguous balanced runs when they alone exceed the budget (191 shards on a 1-layer base)', () => {
    const files = checkpoint(191, 4 * 1024 * MiB);
    const plan = planModelLayers(files, 1, budget(100));
    assertWellFormed(plan, files);
    assert.equal(plan.layers.length, 99);
    assert.deepEqual(plan.counts, { own: 0, shared: 1, grouped: 98 });
    const small = plan.layers.find((l) => l.kind === 'shared')!;
    assert.deepEqual(small.files.map((f) => f.path), ['config.json', 'generation_config.json', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json']);
    const runs = plan.layers.filter((l) => l.kind === 'grouped');
    // Contiguous: the shards in run order are the shards in path order.
    assert.deepEqual(runs.flatMap((r) => r.files.map((f) => f.path)), files.filter((f) => f.path.startsWith('model-')).map((f) => f.path));
    assert.ok(runs.every((r) => r.files.length === 1 || r.files.length === 2 || r.files.length === 3), 'about 191/98 shards a run');
    assert.ok(Math.max(...runs.map((r) => r.files.length)) - Math.min(...runs.map((r) => r.files.length)) <= 1, 'equal shards: runs differ by one shard at most');
  });

  it('counts the base: the same model on a 30-layer base gets 70 layers', () => {
    const files = checkpoint(191, 1024 * MiB);
    const plan = planModelLayers(files, 30, budget(100));
    assertWellFormed(plan, files);
    assert.equal(plan.layers.length, 70);
    assert.equal(plan.available, 70);
  });

  it('with one layer available, puts every file in it; with only large files, one run', () => {
    const mixed = sorted([{ path: 'a', size: 1 }, { path: 'b', size: 20 * MiB }, { path: 'c', size: 2 }]);
    assert.deepEqual(paths(planModelLayers(mixed, 1, budget(2))), [['a', 'b', 'c']]);
    const large = sorted([{ path: 'a', size: 20 * MiB }, { path: 'b', size: 20 * MiB }]);
    assert.deepEqual(paths(planModelLayers(large, 1, budget(2))), [['a', 'b']]);
    assert.deepEqual(paths(planModelLayers(large, 1, budget(3))), [['a'], ['b']]);
  });

  it('orders layers by first path when shared and grouped layers interleave', () => {
    const files = sorted([{ path: 'a.json', size: 5 }, { path: 'b.bin', size: 30 * MiB }, { path: 'c.bin', size: 30 * MiB }, { path: 'd.json', size: 5 }, { path: 'e.bin', size: 30 * MiB }]);
    const plan = planModelLayers(files, 1, budget(3)); // 2 available, 3 large: small in one, large in one run
    assert.deepEqual(paths(plan), [['a.json', 'd.json'], ['b.bin', 'c.bin', 'e.bin']]);
    const plan3 = planModelLayers(files, 1, budget(4)); // 3 available: small in one, large in two runs
    assert.deepEqual(paths(plan3), [['a.json', 'd.json'], ['b.bin', 'c.bin'], ['e.bin']]);
  });

  it('is deterministic: the same files and sizes give the same plan, whatever the input array identity', () => {
    const files = checkpoint(300, 2 * 1024 * MiB);
    const a = planModelLayers(files, 2, budget(100));
    const b = planModelLayers(files.map((f) => ({ ...f })), 2, budget(100));
    assert.deepEqual(paths(a), paths(b));
    assert.deepEqual(a.layers.map((l) => l.kind), b.layers.map((l) => l.kind));
  });

  it('splits into non-empty balanced runs, even with zero-byte files and more runs than items', () => {
    const items = [5, 0, 0, 5, 0, 5].map((size, i) => ({ path: String(i), size }));
    const runs = splitBalanced(items, 3);
    assert.equal(runs.length, 3);
    assert.ok(runs.every((r) => r.length > 0));
    assert.deepEqual(runs.map((r) => bytes(r)), [5, 5, 5]);
    assert.equal(splitBalanced(items, 10).length, 6);
    assert.deepEqual(splitBalanced(items, 1), [items]);
    const zeros = Array.from({ length: 4 }, (_, i) => ({ path: String(i), size: 0 }));
    assert.deepEqual(splitBalanced(zeros, 2).map((r) => r.length), [1, 3]);
  });

  it('refuses a budget the base already uses up, naming the setting and the base layer count (ConfigError, exit 2)', () => {
    const files = [{ path: 'a', size: 1 }];
    assert.throws(
      () => planModelLayers(files, 100, budget(100)),
      (e: Error) => e instanceof ConfigError && /^--modelcar-max-layers \/ MODEL_SYNC_MODELCAR_MAX_LAYERS is 100, but the base image already has 100 layers/.test(e.message),
    );
    assert.throws(() => planModelLayers(files, 5, budget(4)), ConfigError);
    assert.equal(planModelLayers(files, 99, budget(100)).layers.length, 1);
  });
});
