// The scale-out planner and its documents, pure: balance by layer bytes, determinism, fewer
// layers than parts, N=1, round-trips, each refusal of decoding, derived tags, the I/N selector.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelSyncError } from '../src/errors.js';
import type { PlannedLayer, PlanFile } from '../src/oci/layer-plan.js';
import {
  decodePartPlan,
  decodePartResult,
  encodePartPlan,
  encodePartResult,
  partPlanDigest,
  partPlanDocument,
  partTag,
  parsePartSelector,
  planParts,
  planTag,
  type PartPlanDocument,
  type PartResultDocument,
} from '../src/oci/part-plan.js';
import { tarLayerSize } from '../src/oci/tar-layer.js';

const MiB = 1024 * 1024;
/** An interface, as SourceIdentity is: partPlanDocument must accept it. */
interface Identity {
  etag: string;
  size: number;
}
type F = PlanFile & { identity: Identity };
const file = (path: string, size: number): F => ({ path, size, identity: { etag: `"${path}"`, size } });
const own = (path: string, size: number): PlannedLayer<F> => ({ kind: 'own', files: [file(path, size)] });
const layerBytes = (l: PlannedLayer<F>) => tarLayerSize(l.files.map((f) => ({ path: f.path, fileSize: f.size })));

/** One 10 GiB shard among 40 small layers of 100 MiB (path order puts the shard in the middle). */
function skewed(): Array<PlannedLayer<F>> {
  const layers: Array<PlannedLayer<F>> = [];
  for (let i = 0; i < 40; i++) layers.push(own(`a-${String(i).padStart(2, '0')}.bin`, 100 * MiB));
  layers.splice(20, 0, own('big.safetensors', 10 * 1024 * MiB));
  return layers;
}

function assertCoversInOrder(plan: ReturnType<typeof planParts<F>>, layers: Array<PlannedLayer<F>>): void {
  const all = plan.parts.flatMap((p) => p.layers.map((l) => l.index)).sort((a, b) => a - b);
  assert.deepEqual(all, layers.map((_, i) => i), 'every layer in exactly one part');
  for (const p of plan.parts) {
    assert.ok(p.layers.length > 0, `part ${p.index} non-empty`);
    for (const l of p.layers) assert.equal(l.layer, layers[l.index], 'an entry keeps its own layer at its index');
    for (let i = 1; i < p.layers.length; i++) assert.ok(p.layers[i - 1]!.index < p.layers[i]!.index, 'layer order inside a part');
  }
}

describe('planParts', () => {
  it('balances skewed sizes: the huge layer alone, the small ones shared evenly', () => {
    const layers = skewed();
    const plan = planParts(layers, 3);
    assertCoversInOrder(plan, layers);
    assert.deepEqual(plan.parts.map((p) => p.layers.length), [1, 20, 20]);
    assert.deepEqual(plan.parts[0]!.layers.map((l) => l.index), [20], 'part 1 holds the shard');
    const small = plan.parts.slice(1).map((p) => p.bytes);
    assert.equal(small[0], small[1], 'the two other parts carry the same bytes');
    assert.equal(plan.parts.reduce((n, p) => n + p.bytes, 0), layers.reduce((n, l) => n + layerBytes(l), 0), 'bytes are tar layer sizes');
  });

  it('balances many equal layers to within one layer', () => {
    const layers = Array.from({ length: 10 }, (_, i) => own(`m-${i}.bin`, 64 * MiB));
    const plan = planParts(layers, 4);
    assert.deepEqual(plan.parts.map((p) => p.layers.length), [3, 3, 2, 2]);
  });

  it('is deterministic', () => {
    const a = planParts(skewed(), 4);
    const b = planParts(skewed(), 4);
    const shape = (p: typeof a) => p.parts.map((x) => [x.index, x.bytes, x.layers.map((l) => l.index)]);
    assert.deepEqual(shape(a), shape(b));
  });

  it('gives one part per layer when N exceeds the layer count', () => {
    const layers = [own('a', 1 * MiB), own('b', 2 * MiB), own('c', 3 * MiB)];
    const plan = planParts(layers, 8);
    assert.equal(plan.requested, 8);
    assert.deepEqual(plan.parts.map((p) => [p.index, p.layers.map((l) => l.index)]), [[1, [2]], [2, [1]], [3, [0]]]);
  });

  it('N=1 is every layer in the plan order', () => {
    const layers = skewed();
    const plan = planParts(layers, 1);
    assert.equal(plan.parts.length, 1);
    assert.deepEqual(plan.parts[0]!.layers.map((l) => l.layer), layers);
  });

  it('refuses no layers and a bad part count', () => {
    assert.throws(() => planParts([], 2), (e: unknown) => e instanceof ModelSyncError && e.kind === 'precondition');
    assert.throws(() => planParts([own('a', 1)], 0), /positive integer/);
  });
});

function samplePlan(): { doc: PartPlanDocument; text: string; digest: string } {
  const layers: Array<PlannedLayer<F>> = [own('a.bin', 5 * MiB), { kind: 'shared', files: [file('b.json', 10), file('c.json', 20)] }, own('d.bin', 4 * MiB)];
  const doc = partPlanDocument(planParts(layers, 2), {
    source: 's3://bucket/models/m',
    repository: '127.0.0.1:5000/models/m',
    base: `127.0.0.1:5000/base@sha256:${'0'.repeat(64)}`,
    budget: { maxLayers: 127, ownLayerBytes: 16 * MiB },
  });
  const text = encodePartPlan(doc);
  return { doc, text, digest: partPlanDigest(text) };
}

function sampleResult(plan: PartPlanDocument, planDigest: string, part = 2): PartResultDocument {
  const planned = plan.partList.find((p) => p.index === part)!;
  return {
    format: 'model-sync.part-result',
    version: 1,
    part,
    parts: plan.parts,
    plan: planDigest,
    layers: planned.layers.map((l) => ({
      index: l.index,
      digest: `sha256:${String(l.index).repeat(64)}`,
      size: 4096,
      files: l.files.map((f) => ({ path: f.path, size: f.size, sha256: 'a'.repeat(64) })),
    })),
  };
}

/** Applies `edit` to a JSON copy of `doc` and returns its text. */
function edited(doc: object, edit: (d: any) => void): string {
  const copy = JSON.parse(JSON.stringify(doc));
  edit(copy);
  return JSON.stringify(copy);
}

const refused = (message: RegExp) => (e: unknown) => e instanceof ModelSyncError && e.kind === 'precondition' && !e.message.includes('\n') && message.test(e.message);

describe('part plan document', () => {
  it('round-trips', () => {
    const { doc, text } = samplePlan();
    assert.deepEqual(decodePartPlan(text), doc);
    assert.equal(encodePartPlan(decodePartPlan(text)), text, 'stable bytes, stable digest');
    assert.deepEqual(doc.partList.map((p) => p.layers.map((l) => l.index)), [[0], [1, 2]]);
    assert.deepEqual(doc.partList[1]!.layers[0]!.files[1], { path: 'c.json', size: 20, identity: { etag: '"c.json"', size: 20 } });
  });

  const { doc } = samplePlan();
  const cases: Array<[string, (d: any) => void, RegExp]> = [
    ['a wrong version', (d) => (d.version = 2), /version 2/],
    ['a wrong format', (d) => (d.format = 'other'), /format "other"/],
    ['a missing source', (d) => delete d.source, /part plan\.source/],
    ['a missing base', (d) => delete d.base, /part plan\.base/],
    ['a missing budget', (d) => delete d.budget, /part plan\.budget must be an object/],
    ['a file without identity', (d) => delete d.partList[0].layers[0].files[0].identity, /files\[0\]\.identity/],
    ['a part count that disagrees', (d) => (d.parts = 3), /lists 2 parts but says parts: 3/],
    ['overlapping layer indexes', (d) => (d.partList[1].layers[0].index = 0), /layer 0 is in part 1 and part 2/],
    ['a missing layer index', (d) => (d.layers = 4), /layer 3 is in no part/],
    ['a layer index out of range', (d) => (d.partList[1].layers[1].index = 3), /index is 3, out of range 0\.\.2/],
    ['a part index out of range', (d) => (d.partList[1].index = 3), /index is 3, out of range 1\.\.2/],
    ['a part listed twice', (d) => (d.partList[1].index = 1), /lists part 1 twice/],
    ['an empty part', (d) => (d.partList[0].layers = []), /partList\[0\]\.layers must be a non-empty array/],
    ['an unknown layer kind', (d) => (d.partList[0].layers[0].kind = 'odd'), /kind must be one of/],
  ];
  for (const [what, edit, message] of cases) {
    it(`refuses ${what}`, () => assert.throws(() => decodePartPlan(edited(doc, edit)), refused(message)));
  }
  it('refuses text that is not JSON', () => assert.throws(() => decodePartPlan('{'), refused(/not valid JSON/)));

  // S3 destinations (parts-s3.ts): one-file layers, no image, so no base image to pin.
  it('an S3 plan has no base and round-trips; empty files are units too', () => {
    const plan = planParts([own('a.bin', 3 * MiB), own('empty.txt', 0), own('b.bin', 2 * MiB)], 2);
    const s3Plan = partPlanDocument(plan, { source: 's3://src/m', repository: 's3://dst/models/m', budget: { maxLayers: 3, ownLayerBytes: 0 } });
    assert.equal('base' in s3Plan, false);
    const text = encodePartPlan(s3Plan);
    assert.deepEqual(decodePartPlan(text), s3Plan);
    assert.equal(encodePartPlan(decodePartPlan(text)), text, 'stable bytes, stable digest');
    assert.deepEqual(s3Plan.partList.map((p) => p.layers.map((l) => l.files.map((f) => f.path))), [[['a.bin']], [['empty.txt'], ['b.bin']]]);
  });
  it('refuses an empty base on an S3 plan, and still a missing base on a registry plan', () => {
    const s3Plan = partPlanDocument(planParts([own('a.bin', 1)], 1), { source: 's3://src/m', repository: 's3://dst/m', budget: { maxLayers: 1, ownLayerBytes: 0 } });
    assert.throws(() => decodePartPlan(edited(s3Plan, (d) => (d.base = ''))), refused(/part plan\.base/));
    assert.throws(() => decodePartPlan(edited(s3Plan, (d) => (d.repository = 'dst/m'))), refused(/part plan\.base/));
  });
});

describe('part result document', () => {
  const { doc: plan, digest } = samplePlan();
  const result = sampleResult(plan, digest);

  it('round-trips, and matches its plan', () => {
    const text = encodePartResult(result);
    assert.deepEqual(decodePartResult(text), result);
    assert.deepEqual(decodePartResult(text, { plan, planDigest: digest }), result);
  });

  const cases: Array<[string, (d: any) => void, RegExp]> = [
    ['a wrong version', (d) => (d.version = 0), /version 0/],
    ['a missing plan digest', (d) => delete d.plan, /part result\.plan must be/],
    ['a part out of range', (d) => (d.part = 3), /part is 3, out of range 1\.\.2/],
    ['a repeated layer index', (d) => (d.layers[1].index = 1), /must increase/],
    ['a bad layer digest', (d) => (d.layers[0].digest = 'sha256:xyz'), /digest must be a sha256/],
    ['a missing layer size', (d) => delete d.layers[0].size, /layers\[0\]\.size/],
    ['a bad file sha256', (d) => (d.layers[0].files[0].sha256 = 'A'.repeat(64)), /sha256 must be 64 lowercase hex/],
  ];
  for (const [what, edit, message] of cases) {
    it(`refuses ${what}`, () => assert.throws(() => decodePartResult(edited(result, edit)), refused(message)));
  }

  const against: Array<[string, (d: any) => void, RegExp]> = [
    ['another plan', (d) => (d.plan = `sha256:${'f'.repeat(64)}`), /follows plan sha256:f+, not/],
    ['another part count', (d) => (d.parts = 3), /is for 3 parts, the plan has 2/],
    ['a missing layer', (d) => d.layers.pop(), /lists layers \[1\], the plan gives it \[1,2\]/],
    ['other files', (d) => (d.layers[0].files[0].size = 11), /layer 1 does not hold the files/],
  ];
  for (const [what, edit, message] of against) {
    it(`refuses a result for ${what} than the plan's`, () =>
      assert.throws(() => decodePartResult(edited(result, edit), { plan, planDigest: digest }), refused(message)));
  }
});

describe('derived tags', () => {
  const VALID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

  it('are valid and distinct for every part, and from the plan tag', () => {
    const tags = [planTag('v1'), ...Array.from({ length: 12 }, (_, i) => partTag('v1', i + 1, 12))];
    for (const t of tags) assert.match(t, VALID);
    assert.equal(new Set(tags).size, tags.length);
    assert.equal(planTag('v1'), 'v1.model-sync-plan');
    assert.equal(partTag('v1', 2, 3), 'v1.model-sync-part-2-of-3');
  });

  it('use latest when the destination has no tag', () => {
    assert.equal(planTag(undefined), 'latest.model-sync-plan');
    assert.equal(partTag(undefined, 1, 1), 'latest.model-sync-part-1-of-1');
  });

  it('shorten a long tag with a hash, still valid and distinct', () => {
    // Pairs that differ only at the end, and only at the start: neither cut alone keeps them apart.
    const long = ['x'.repeat(120) + 'A', 'x'.repeat(120) + 'B', 'A' + 'x'.repeat(120), 'B' + 'x'.repeat(120)];
    for (const t of long) {
      const derived = [planTag(t), ...Array.from({ length: 3 }, (_, i) => partTag(t, i + 1, 3))];
      for (const d of derived) {
        assert.match(d, VALID);
        assert.ok(d.startsWith(t.slice(0, 40)), 'keeps the start of the tag');
      }
    }
    const all = long.flatMap((t) => [planTag(t), ...Array.from({ length: 3 }, (_, i) => partTag(t, i + 1, 3))]);
    assert.equal(new Set(all).size, all.length);
    assert.equal(partTag('x'.repeat(128), 999, 999).length, 128, 'uses the whole length');
  });

  it('refuse a part outside the count', () => {
    assert.throws(() => partTag('v1', 0, 3), /between 1 and 3/);
  });
});

describe('parsePartSelector', () => {
  it('reads I/N counted from 1', () => {
    assert.deepEqual(parsePartSelector('1/3'), { index: 1, parts: 3 });
    assert.deepEqual(parsePartSelector('3/3'), { index: 3, parts: 3 });
  });
  const bad: Array<[string, RegExp]> = [
    ['0/3', /I must be between 1 and 3/],
    ['4/3', /I must be between 1 and 3/],
    ['1/0', /N must be at least 1/],
    ['a/b', /expected I\/N/],
    ['2', /expected I\/N/],
    ['-1/3', /expected I\/N/],
    ['1/3/4', /expected I\/N/],
  ];
  for (const [text, message] of bad) {
    it(`refuses "${text}"`, () => assert.throws(() => parsePartSelector(text), message));
  }
});
