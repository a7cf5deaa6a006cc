// `model-sync assemble` for a registry destination (issue 15, item 3) on a real docker-registry.
// The plan and the parts' layers and results are made with the library, as plan and push --part
// make them: the plan pushed under its tag, each part's layers streamed into the repository and its
// result pushed under its part tag. assemble then builds the image: the digest is the one `all`
// gives for the same files and base, the files read back identical, the part and plan tags are
// gone (or, where the registry refuses deletes, named once in a warning), and a missing or
// unfinished part, a result of another plan, or a layer blob gone from the registry stop it with
// the part named (exit 3).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildMinimalBase } from '../dev/minimal-base.js';
import { runCli, type CliResult } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { comparePaths, planModelLayers } from '../src/oci/layer-plan.js';
import { OciLayout } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { baseLayerCount } from '../src/oci/modelcar.js';
import { encodePartPlan, encodePartResult, partPlanDigest, partPlanDocument, partTag, planParts, planTag, type PartResultLayer } from '../src/oci/part-plan.js';
import { pullPartDocument, pushPartDocument } from '../src/oci/part-registry.js';
import { parseImageReference } from '../src/oci/reference.js';
import { streamLayerToRegistry } from '../src/oci/stream-layer.js';
import { RegistryTarget } from '../src/oci/target-registry.js';
import { pushLayout } from '../src/oci/transfer.js';
import type { Descriptor } from '../src/oci/types.js';
import type { StreamFile } from '../src/util/stream-file.js';
import { logLines } from './support/fetch-helpers.js';
import { useStandin } from './support/model-registry.js';
import { memoryLogger } from './support/oci-images.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const OWN_LAYER_BYTES = MiB;
const PARTS = 3;
const skip = registryAvailable() ? false : 'docker-registry is not installed';
const mr = useStandin();

/** A model file as a source lists it for streaming (what plan and the parts read). */
type LocalFile = StreamFile & { identity: { size: number; mtimeMs: number } };

/** What a test may do to the parts it makes instead of finishing them all. */
interface PartFaults {
  /** Parts not pushed at all. */
  missing?: number[];
  /** This part leaves its progress (its first layer done) instead of its result. */
  unfinished?: number;
  /** This part's result names another plan. */
  otherPlan?: number;
  /** This part's first layer is recorded with a size off by one tar block. */
  wrongSize?: number;
  /** [I, J]: part J's result is pushed under part I's tag too (over I's own). */
  misplaced?: [number, number];
}

describe('assemble builds the image from the parts in the registry', { skip }, () => {
  let registry: TestRegistry;
  let noDeletes: TestRegistry;
  let folder = '';
  let files: LocalFile[] = [];
  let baseDir = '';
  const bases = new Map<TestRegistry, { pinned: string; tagged: string }>();
  const targets: RegistryTarget[] = [];
  const model: Record<string, Buffer> = {
    'config.json': Buffer.from('{"architectures":["Tiny"]}'),
    'tokenizer/tokenizer.json': randomBytes(300 * KiB),
    'weights/model-00001-of-00003.safetensors': randomBytes(3 * MiB + 7),
    'weights/model-00002-of-00003.safetensors': randomBytes(2 * MiB),
    'weights/model-00003-of-00003.safetensors': randomBytes(2 * MiB + 512 * KiB),
  };

  before(async () => {
    [registry, noDeletes] = await Promise.all([startRegistry(), startRegistry({ deleteEnabled: false })]);
    folder = await mr.dir('ms-asm-model-');
    for (const [name, body] of Object.entries(model)) {
      await mkdir(path.dirname(path.join(folder, name)), { recursive: true });
      await writeFile(path.join(folder, name), body);
    }
    files = [];
    for (const name of Object.keys(model)) {
      const abs = path.join(folder, name);
      const s = await stat(abs);
      files.push({ path: name, size: s.size, identity: { size: s.size, mtimeMs: s.mtimeMs }, open: async (start) => createReadStream(abs, { start }) });
    }
    files.sort((a, b) => comparePaths(a.path, b.path));
    // The minimal base, pushed to each registry: `all` takes it by tag, the plan pins it by digest.
    baseDir = (await buildMinimalBase(await mr.dir('ms-asm-base-'))).dir;
    const layout = new OciLayout(baseDir);
    const root = (await layout.resolveTag('latest'))!;
    for (const r of [registry, noDeletes]) {
      const pushed = await pushLayout({ layout, root, reference: `${r.host}/base/minimal:latest`, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
      bases.set(r, { pinned: `${r.host}/base/minimal@${pushed.digest}`, tagged: `${r.host}/base/minimal:latest` });
    }
  });
  after(async () => {
    for (const t of targets) t.close();
    await Promise.all([registry?.stop(), noDeletes?.stop()]);
  });

  const targetOf = (r: TestRegistry, repository: string, tag: string) => {
    const t = new RegistryTarget(parseImageReference(`${r.host}/${repository}:${tag}`), { tlsVerify: true, log: memoryLogger().log, push: true, operation: 'push', retry: { attempts: 2, baseDelayMs: 10 } });
    targets.push(t);
    return t;
  };

  /** The layers and parts plan makes of the model on the base (the layer budget of `all` with --modelcar-own-layer-bytes). */
  async function modelParts() {
    const layout = new OciLayout(baseDir);
    const layers = planModelLayers(files, await baseLayerCount(layout, (await layout.resolveTag('latest'))!), { maxLayers: 100, ownLayerBytes: OWN_LAYER_BYTES, maxLayersSetting: 'max' });
    return planParts(layers.layers, PARTS);
  }

  /** What plan and the N parts leave in the registry, made with the library. */
  async function planAndParts(r: TestRegistry, repository: string, tag: string, faults: PartFaults = {}) {
    const target = targetOf(r, repository, tag);
    const parts = await modelParts();
    const doc = partPlanDocument(parts, { source: `file://${folder}`, repository: `${r.host}/${repository}`, base: bases.get(r)!.pinned, budget: { maxLayers: 100, ownLayerBytes: OWN_LAYER_BYTES } });
    const json = encodePartPlan(doc);
    await pushPartDocument(target, { tag: planTag(tag), artifactType: MT.partPlan, json });
    const planDigest = partPlanDigest(json);
    const resultLayers: PartResultLayer[] = [];
    for (const part of parts.parts) {
      if (faults.missing?.includes(part.index)) continue;
      const done: PartResultLayer[] = [];
      const references: Descriptor[] = [];
      const todo = faults.unfinished === part.index ? part.layers.slice(0, 1) : part.layers;
      for (const l of todo) {
        const streamed = await streamLayerToRegistry(l.layer.files, { target, log: memoryLogger().log });
        done.push({ index: l.index, digest: streamed.digest, size: streamed.size, files: streamed.files.map((f) => ({ path: f.path, size: f.fileSize, sha256: f.fileSha256.replace(/^sha256:/, '') })) });
        references.push({ mediaType: MT.ociLayerTar, digest: streamed.digest, size: streamed.size });
      }
      resultLayers.push(...done);
      if (faults.wrongSize === part.index) done[0] = { ...done[0]!, size: done[0]!.size + 512 };
      const result = { format: 'model-sync.part-result' as const, version: 1 as const, part: part.index, parts: parts.parts.length, plan: faults.otherPlan === part.index ? `sha256:${'0'.repeat(64)}` : planDigest, layers: done };
      const unfinished = faults.unfinished === part.index;
      // A progress document has the result's shape with the layers done so far.
      await pushPartDocument(target, { tag: partTag(tag, part.index, parts.parts.length), artifactType: unfinished ? MT.partProgress : MT.partResult, json: unfinished ? JSON.stringify(result) : encodePartResult(result), references });
    }
    if (faults.misplaced) {
      const [under, of] = faults.misplaced;
      const stored = (await pullPartDocument(target, partTag(tag, of, parts.parts.length)))!;
      await pushPartDocument(target, { tag: partTag(tag, under, parts.parts.length), artifactType: MT.partResult, json: stored.text, references: stored.references });
    }
    return { target, parts, resultLayers, partCount: parts.parts.length };
  }

  const destination = (r: TestRegistry, repository: string, tag: string) => ({
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `${r.host}/${repository}:${tag}`,
    MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
  });
  const assemble = (ws: string, r: TestRegistry, repository: string, tag: string): Promise<CliResult> =>
    runCli(['assemble'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_RETRY_ATTEMPTS: '2', ...destination(r, repository, tag) }, { timeoutMs: 120_000 });
  const tagsOf = async (r: TestRegistry, repository: string): Promise<string[]> => {
    const res = await fetch(`${r.url}/v2/${repository}/tags/list`);
    return (((await res.json()) as { tags?: string[] | null }).tags ?? []).sort();
  };
  const warnings = (stderr: string) => logLines(stderr).filter((l) => l.level === 'warn');

  let assembledWs = '';
  let assembledDigest = '';

  it('gives the image `all` gives for the same files and base, reads back identical, removes the part and plan tags, and register takes its URI', async () => {
    const made = await planAndParts(registry, 'models/asm', 'v1');
    assert.equal(made.partCount, PARTS, 'three parts');
    assert.ok(made.parts.parts.some((p) => p.layers.length > 1), 'a part with several layers');
    assert.ok(made.resultLayers.length >= 4, `own layers and a shared one (${made.resultLayers.length})`);
    assert.deepEqual(await tagsOf(registry, 'models/asm'), ['v1.model-sync-part-1-of-3', 'v1.model-sync-part-2-of-3', 'v1.model-sync-part-3-of-3', 'v1.model-sync-plan']);

    assembledWs = await mr.dir('ms-asm-ws-');
    const r = await assemble(assembledWs, registry, 'models/asm', 'v1');
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.termination) as Record<string, string>;
    assert.equal(results['model-uri'], `oci://${registry.host}/models/asm:v1`);
    assert.match(results['image-digest']!, /^sha256:[a-f0-9]{64}$/);
    assert.equal(results['model-files'], String(Object.keys(model).length));
    assert.equal(results['model-bytes'], String(Object.values(model).reduce((n, b) => n + b.length, 0)));
    assert.equal(warnings(r.stderr).length, 0, `no warning: ${JSON.stringify(warnings(r.stderr))}`);
    const pushed = JSON.parse(await readFile(path.join(assembledWs, '.model-sync/push.json'), 'utf8')) as { digest: string; uri: string };
    assert.equal(pushed.digest, results['image-digest']);
    assert.equal(pushed.uri, results['model-uri']);
    assembledDigest = pushed.digest;

    // Only the image's tag is left.
    assert.deepEqual(await tagsOf(registry, 'models/asm'), ['v1']);

    // `all` of the same files on the same base: the same image.
    const allWs = await mr.dir('ms-asm-all-');
    const meta = await mr.meta({ 'RegisteredModel.name': 'asm-all', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'asm-all' });
    const all = await runCli(['all'], mr.env(allWs, meta, 'create_model', {
      MODEL_SYNC_SOURCE_TYPE: 'uri',
      MODEL_SYNC_SOURCE_URI: folder,
      ...destination(registry, 'models/all', 'v1'),
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: bases.get(registry)!.tagged,
      MODEL_SYNC_MODELCAR_OWN_LAYER_BYTES: String(OWN_LAYER_BYTES),
      MODEL_SYNC_RETRY_ATTEMPTS: '2',
    }), { timeoutMs: 180_000 });
    assert.equal(all.code, 0, all.stderr);
    const allPushed = JSON.parse(await readFile(path.join(allWs, '.model-sync/push.json'), 'utf8')) as { digest: string };
    assert.equal(assembledDigest, allPushed.digest, 'assemble and all give the same image digest');

    // The files read back from the assembled image are the model's.
    const back = await mr.dir('ms-asm-back-');
    const fetched = await runCli(['fetch'], {
      MODEL_SYNC_STORAGE_PATH: back,
      MODEL_SYNC_SOURCE_TYPE: 'oci',
      MODEL_SYNC_SOURCE_OCI_URI: `${registry.host}/models/asm:v1`,
      MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'false',
    });
    assert.equal(fetched.code, 0, fetched.stderr);
    for (const [name, body] of Object.entries(model)) assert.ok(body.equals(await readFile(path.join(back, 'model', name))), `${name} reads back identical`);

    // register in the same workspace takes the assembled URI from push.json.
    const regMeta = await mr.meta({ 'RegisteredModel.name': 'asm-parts', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'asm-parts' });
    const reg = await runCli(['register'], mr.env(assembledWs, regMeta, 'create_model', destination(registry, 'models/asm', 'v1')));
    assert.equal(reg.code, 0, reg.stderr);
    const found = (await mr.client.findRegisteredModel('asm-parts'))!;
    const version = (await mr.client.listRegisteredModelVersions(found.id))[0]!;
    assert.equal((await mr.artifactOf(version.id)).uri, `oci://${registry.host}/models/asm:v1`);
  });

  it('a second assemble finds no plan, says the image is there and nothing is left to assemble, and keeps the push record', async () => {
    assert.ok(assembledDigest, 'runs after the first test');
    // In the same workspace, as a retry of the step would run.
    const again = await assemble(assembledWs, registry, 'models/asm', 'v1');
    assert.equal(again.code, 5, again.stderr);
    assert.match(again.termination, /no scale-out plan under 127\.0\.0\.1:\d+\/models\/asm:v1\.model-sync-plan/);
    assert.ok(again.termination.includes(`127.0.0.1:${new URL(registry.url).port}/models/asm:v1 holds ${assembledDigest}`), again.termination);
    assert.match(again.termination, /nothing left to assemble/);
    assert.equal(again.termination.split('\n').filter(Boolean).length, 1, 'one line');
    const kept = JSON.parse(await readFile(path.join(assembledWs, '.model-sync/push.json'), 'utf8')) as { digest: string };
    assert.equal(kept.digest, assembledDigest, 'the earlier assemble\'s push.json stays for register');
  });

  it('where the registry refuses deletes, assembles and warns once, naming the tags left', async () => {
    await planAndParts(noDeletes, 'models/kept', 'v1');
    const r = await assemble(await mr.dir('ms-asm-kept-'), noDeletes, 'models/kept', 'v1');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.termination) as Record<string, string>)['image-digest'], assembledDigest, 'the same image');
    const warned = warnings(r.stderr);
    assert.equal(warned.length, 1, `one warning: ${JSON.stringify(warned)}`);
    const left = ['v1.model-sync-part-1-of-3', 'v1.model-sync-part-2-of-3', 'v1.model-sync-part-3-of-3', 'v1.model-sync-plan'];
    for (const tag of left) assert.ok(String(warned[0]!.msg).includes(tag), `the warning names ${tag}: ${warned[0]!.msg}`);
    assert.match(String(warned[0]!.msg), /refuses deletes/);
    assert.deepEqual(await tagsOf(noDeletes, 'models/kept'), [...left, 'v1'].sort());
  });

  it('a missing part: exit 3 naming it, its tag and push --part; two missing parts: both named', async () => {
    const one = await planAndParts(registry, 'models/missing', 'one', { missing: [2] });
    const r = await assemble(await mr.dir('ms-asm-miss-'), registry, 'models/missing', 'one');
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.termination.includes(`part 2/3 is missing (no ${one.target.reference('one.model-sync-part-2-of-3')})`), r.termination);
    assert.match(r.termination, /run push --part 2\/3/);
    assert.doesNotMatch(r.termination, /part [13]\/3/, 'the parts present are not named');
    assert.equal(r.termination.trim().split('\n').length, 1, 'one line');
    assert.ok((await tagsOf(registry, 'models/missing')).includes('one.model-sync-plan'), 'the plan stays');

    await planAndParts(registry, 'models/missing', 'two', { missing: [1, 3] });
    const two = await assemble(await mr.dir('ms-asm-miss2-'), registry, 'models/missing', 'two');
    assert.equal(two.code, 3, two.stderr);
    assert.match(two.termination, /2 of 3 parts not ready/);
    for (const p of ['1/3', '3/3']) assert.ok(two.termination.includes(`part ${p} is missing`) && two.termination.includes(`push --part ${p}`), `${p} named: ${two.termination}`);
    assert.ok(!(await tagsOf(registry, 'models/missing')).includes('two'), 'no image tagged');
  });

  it('an unfinished part (its progress under the tag): exit 3, "has not finished (K of M layers)"', async () => {
    const part = (await modelParts()).parts.find((p) => p.layers.length > 1)!;
    await planAndParts(registry, 'models/unfinished', 'v1', { unfinished: part.index });
    const r = await assemble(await mr.dir('ms-asm-unf-'), registry, 'models/unfinished', 'v1');
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.termination.includes(`part ${part.index}/3 has not finished (1 of ${part.layers.length} layers`), r.termination);
    assert.ok(r.termination.includes(`push --part ${part.index}/3`), r.termination);
  });

  it('a result that does not follow the plan: exit 3 naming the part', async () => {
    await planAndParts(registry, 'models/stale', 'v1', { otherPlan: 1 });
    const r = await assemble(await mr.dir('ms-asm-stale-'), registry, 'models/stale', 'v1');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.termination, /part 1\/3 \(.*v1\.model-sync-part-1-of-3\): part result 1\/3 follows plan sha256:0{64}, not sha256:[a-f0-9]{64}; run push --part 1\/3 again/);
  });

  it("another part's result under a part's tag, or a layer size its files cannot have: exit 3 naming the part", async () => {
    await planAndParts(registry, 'models/misplaced', 'v1', { misplaced: [1, 2] });
    const r = await assemble(await mr.dir('ms-asm-misplaced-'), registry, 'models/misplaced', 'v1');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.termination, /part 1\/3 \(.*v1\.model-sync-part-1-of-3\): the result under its tag is part 2's; run push --part 1\/3 again/);

    await planAndParts(registry, 'models/wrongsize', 'v1', { wrongSize: 3 });
    const sized = await assemble(await mr.dir('ms-asm-size-'), registry, 'models/wrongsize', 'v1');
    assert.equal(sized.code, 3, sized.stderr);
    assert.match(sized.termination, /part 3\/3 \(.*\): layer \d+ has size \d+, but a layer of its files is \d+ bytes; run push --part 3\/3 again/);
  });

  it('a layer blob gone from the registry: exit 3 naming the blob, its layer and part; nothing tagged, the part tags stay', async () => {
    const made = await planAndParts(registry, 'models/noblob', 'v1');
    const victim = made.parts.parts[1]!.layers[0]!;
    const digest = made.resultLayers.find((l) => l.index === victim.index)!.digest;
    const del = await fetch(`${registry.url}/v2/models/noblob/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202, 'the registry deleted the blob');
    const r = await assemble(await mr.dir('ms-asm-noblob-'), registry, 'models/noblob', 'v1');
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.termination.includes(`blob ${digest} (layer ${victim.index}, part 2/3)`), r.termination);
    assert.match(r.termination, /run push --part 2\/3 again/);
    assert.equal((await tagsOf(registry, 'models/noblob')).includes('v1'), false, 'no image tagged');
    assert.ok(await pullPartDocument(made.target, 'v1.model-sync-part-2-of-3'), 'the part tag stays');
  });
});
