// plan and push --part (issue 15, items 1 and 2) on real servers: Ceph RGW as the source, the
// local docker-registry as the destination, the base image in the registry (plan pins it by
// digest). The plan is published under <tag>.model-sync-plan; parts run as parallel CLI processes,
// each with its own volume, stream their layers into the registry and push their results under
// their part tags; nothing of the model lands in a workspace. A part killed mid-way completes on a
// fresh volume from the progress it pushed; the refusals are one line with the right exit code.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, runCliSignalled } from '../dev/cli.js';
import { startRegistry, type TestRegistry } from '../dev/registry.js';
import type { Rgw } from '../dev/rgw.js';
import { MT } from '../src/oci/media-types.js';
import { decodePartPlan, decodePartResult, partPlanDigest, partTag, planTag } from '../src/oci/part-plan.js';
import { pullPartDocument } from '../src/oci/part-registry.js';
import { parseImageReference } from '../src/oci/reference.js';
import { RegistryTarget } from '../src/oci/target-registry.js';
import { encodeTarHeader, padded } from '../src/oci/tar-layer.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { logLines } from './support/fetch-helpers.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { memoryLogger } from './support/oci-images.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';
import { MiB, pushMinimalBase, scaleOutSkip } from './support/scale-out.js';

const rgw = useRgw();

const skip = scaleOutSkip;

function lineWith(stderr: string, text: string): Record<string, unknown> | undefined {
  return logLines(stderr).find((l) => typeof l.msg === 'string' && l.msg.includes(text));
}

/** Every file under `dir` with its size. */
async function filesIn(dir: string): Promise<Array<{ file: string; size: number }>> {
  const names = (await readdir(dir, { recursive: true })) as string[];
  const out: Array<{ file: string; size: number }> = [];
  for (const n of names) {
    const s = await stat(path.join(dir, n));
    if (s.isFile()) out.push({ file: n, size: s.size });
  }
  return out;
}

describe('plan and push --part against a registry', { skip }, () => {
  let registry: TestRegistry;
  let s3: Rgw;
  let web: TestHttpServer;
  let base = '';
  const dirs: string[] = [];
  const targets: RegistryTarget[] = [];
  const dir = async (prefix: string) => {
    const d = await mkdtemp(path.join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  // Files of 1 MiB and more keep a layer of their own; the small ones share one: 4 layers.
  const model: Record<string, Buffer> = {
    'config.json': Buffer.from('{"architectures":["Tiny"]}'),
    'tokenizer.json': randomBytes(300 * 1024),
    'weights/a.safetensors': randomBytes(3 * MiB + 7),
    'weights/b.safetensors': randomBytes(2 * MiB),
    'weights/c.safetensors': randomBytes(MiB + MiB / 2),
  };

  before(async () => {
    [registry, s3, web] = await Promise.all([startRegistry({ mode: 'plain' }), rgw.ready, startHttpServer()]);
    for (const [name, body] of Object.entries(model)) await s3.put(`model/${name}`, body);
    await s3.put('few/only.bin', randomBytes(2 * MiB));
    await s3.put('kill/one.bin', randomBytes(2 * MiB));
    await s3.put('kill/two.bin', randomBytes(3 * MiB));
    await s3.put('change/weights.bin', randomBytes(2 * MiB));
    await s3.put('change/config.json', Buffer.from('{}'));
    base = await pushMinimalBase(registry, await dir('ms-base-'));
    web.routes.set('/model.tar', { body: tarOf('model.bin', Buffer.from('inside an archive')), contentType: 'application/x-tar' });
  });
  after(async () => {
    for (const t of targets) t.close();
    await Promise.all([registry?.stop(), web?.stop()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const destination = (image: string) => ({
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: image,
    MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
    MODEL_SYNC_RETRY_ATTEMPTS: '2',
  });
  const plan = async (image: string, source: Record<string, string>, parts: number) => {
    const ws = await dir('ms-plan-');
    const r = await runCli(['plan'], {
      MODEL_SYNC_STORAGE_PATH: ws,
      ...source,
      ...destination(image),
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base,
      MODEL_SYNC_MODELCAR_OWN_LAYER_BYTES: String(MiB),
      MODEL_SYNC_PARTS: String(parts),
    }, { timeoutMs: 120_000 });
    return { ...r, ws };
  };
  const pushPart = async (image: string, source: Record<string, string>, part: string, extra: Record<string, string> = {}, ws?: string) => {
    const storage = ws ?? (await dir('ms-part-'));
    const r = await runCli(['push', '--part', part], { MODEL_SYNC_STORAGE_PATH: storage, ...source, ...destination(image), ...extra }, { timeoutMs: 120_000 });
    return { ...r, ws: storage };
  };
  const result = (ws: string, name: string) => readFile(path.join(ws, '.model-sync/results', name), 'utf8');
  const target = (image: string) => {
    const t = new RegistryTarget(parseImageReference(image), { tlsVerify: true, log: memoryLogger().log, push: false, operation: 'pull', retry: { attempts: 2, baseDelayMs: 10 } });
    targets.push(t);
    return t;
  };
  const blobExists = async (repository: string, digest: string) => (await fetch(`${registry.url}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' })).status === 200;

  it('plan lists the source, pins the base, and publishes the plan; its parts result lists I/N', async () => {
    const image = `${registry.host}/models/granite:v1`;
    const r = await plan(image, rgwSourceEnv(s3, 'model'), 3);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(await result(r.ws, 'parts')), ['1/3', '2/3', '3/3']);
    assert.equal(await result(r.ws, 'model-files'), String(Object.keys(model).length));
    assert.equal(await result(r.ws, 'model-bytes'), String(Object.values(model).reduce((n, b) => n + b.length, 0)));
    const digest = await result(r.ws, 'plan-digest');

    const stored = await pullPartDocument(target(image), planTag('v1'));
    assert.ok(stored, 'the plan is under <tag>.model-sync-plan');
    assert.equal(stored.artifactType, MT.partPlan);
    assert.equal(partPlanDigest(stored.text), digest, 'plan-digest is the digest of the published plan');
    const doc = decodePartPlan(stored.text);
    assert.equal(doc.repository, `${registry.host}/models/granite`);
    assert.match(doc.base ?? '', new RegExp(`^${registry.host}/base/minimal@sha256:[a-f0-9]{64}$`), 'the base is pinned by digest, the tag dropped');
    assert.equal(doc.layers, 4, 'three own layers and one shared by the small files');
    assert.equal(doc.budget.ownLayerBytes, MiB);
    const files = doc.partList.flatMap((p) => p.layers.flatMap((l) => l.files.map((f) => `${f.path}:${f.size}`))).sort();
    assert.deepEqual(files, Object.entries(model).map(([n, b]) => `${n}:${b.length}`).sort());
    const planned = JSON.parse(await readFile(path.join(r.ws, '.model-sync/plan.json'), 'utf8')) as { digest: string; plan: unknown };
    assert.equal(planned.digest, digest);
    assert.equal(JSON.stringify(planned.plan), stored.text, '.model-sync/plan.json holds the plan as published');
    assert.ok(lineWith(r.stderr, 'planned 3 parts'), 'one info line with the parts');
  });

  it('a model with fewer layers than parts gets fewer parts', async () => {
    const r = await plan(`${registry.host}/models/few:v1`, rgwSourceEnv(s3, 'few'), 4);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(await result(r.ws, 'parts')), ['1/1']);
  });

  it('plan refuses a source it cannot read file by file (an archive, an OCI source), naming why', async () => {
    const archive = await plan(`${registry.host}/models/archive:v1`, { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `${web.url}/model.tar` }, 2);
    assert.equal(archive.code, 3, archive.stderr);
    assert.match(archive.stderr, /file by file.*archive.*\ball\b/);
    const oci = await plan(`${registry.host}/models/oci:v1`, { MODEL_SYNC_SOURCE_TYPE: 'oci' }, 2);
    assert.equal(oci.code, 3, oci.stderr);
    assert.match(oci.stderr, /--source-type \/ MODEL_SYNC_SOURCE_TYPE is oci/);
    assert.equal(await pullPartDocument(target(`${registry.host}/models/archive:v1`), planTag('v1')), undefined, 'no plan published');
  });

  it('3 parts in parallel processes, each on its own volume: results under the part tags, blobs in the registry, no model in the workspaces', async () => {
    const image = `${registry.host}/models/parallel:v1`;
    const planned = await plan(image, rgwSourceEnv(s3, 'model'), 3);
    assert.equal(planned.code, 0, planned.stderr);
    const runs = await Promise.all(['1/3', '2/3', '3/3'].map((p) => pushPart(image, rgwSourceEnv(s3, 'model'), p)));
    const doc = decodePartPlan((await pullPartDocument(target(image), planTag('v1')))!.text);
    const digest = await result(planned.ws, 'plan-digest');
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 0, run.stderr);
      const stored = await pullPartDocument(target(image), partTag('v1', i + 1, 3));
      assert.equal(stored?.artifactType, MT.partResult, `part ${i + 1} pushed its result`);
      const res = decodePartResult(stored.text, { plan: doc, planDigest: digest });
      for (const l of res.layers) assert.ok(await blobExists('models/parallel', l.digest), `layer ${l.index} is in the registry`);
      assert.deepEqual(stored.references.map((d) => d.digest), res.layers.map((l) => l.digest), 'the result keeps its layers alive');
      assert.deepEqual(JSON.parse(await readFile(path.join(run.ws, `.model-sync/parts/${i + 1}-of-3.json`), 'utf8')), JSON.parse(stored.text));
      assert.equal(await result(run.ws, 'image-digest'), '', 'no image yet: assemble makes it');
      const big = (await filesIn(run.ws)).filter((f) => f.size > 100 * 1024);
      assert.deepEqual(big, [], 'nothing of the model in the workspace');
      assert.match(run.termination, new RegExp(`part ${i + 1}/3 pushed`));
    }
  });

  it('a part killed mid-way completes on a fresh volume, skipping the layers its progress lists; a re-run skips everything', async () => {
    const proxy = await startFaultProxy(registry.url);
    try {
      // Through the proxy for plan and part alike: the plan names the repository it was made for.
      const image = `${new URL(proxy.url).host}/models/killed:v1`;
      const source = rgwSourceEnv(s3, 'kill');
      const planned = await plan(image, source, 1);
      assert.equal(planned.code, 0, planned.stderr);
      // One layer at a time: the first streams through, the second's PATCH is held, and the part
      // is killed once its progress (the first layer) is under the part tag.
      proxy.rules.push({ method: 'PATCH', skip: 1, delayMs: 30_000 });
      const tag = partTag('v1', 1, 1);
      const progressed = async () => (await fetch(`${registry.url}/v2/models/killed/manifests/${tag}`, { method: 'HEAD', headers: { accept: MT.ociManifest } })).status === 200;
      const ws1 = await dir('ms-killed-');
      const killed = await runCliSignalled(
        ['push', '--part', '1/1'],
        { MODEL_SYNC_STORAGE_PATH: ws1, ...source, ...destination(image), MODEL_SYNC_PUSH_CONCURRENCY: '1' },
        { signal: 'SIGKILL', when: async () => proxy.requests.some((q) => q.fault) && (await progressed()) },
        { timeoutMs: 120_000 },
      );
      assert.equal(killed.killedBy, 'SIGKILL', `killed mid-way (${killed.code}): ${killed.stderr.slice(-2000)}`);
      const progress = await pullPartDocument(target(`${registry.host}/models/killed:v1`), tag);
      assert.equal(progress?.artifactType, MT.partProgress, 'the progress is under the part tag');
      assert.equal(decodePartResult(progress.text).layers.length, 1);
      proxy.rules.length = 0;

      const resumed = await pushPart(image, source, '1/1', { MODEL_SYNC_PUSH_CONCURRENCY: '1' });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.ok(lineWith(resumed.stderr, 'layer 0 skipped, finished before'), resumed.stderr.slice(-3000));
      const summary = lineWith(resumed.stderr, 'push finished')!;
      assert.equal(summary.layersSkipped, 1);
      assert.equal(summary.layersStreamed, 1);
      const done = await pullPartDocument(target(`${registry.host}/models/killed:v1`), tag);
      assert.equal(done?.artifactType, MT.partResult, 'the result replaces the progress');

      const seen = proxy.requests.length;
      const again = await pushPart(image, source, '1/1');
      assert.equal(again.code, 0, again.stderr);
      assert.ok(lineWith(again.stderr, 'is already done'), again.stderr.slice(-2000));
      const summary2 = lineWith(again.stderr, 'push finished')!;
      assert.equal(summary2.layersStreamed, 0);
      assert.equal(summary2.bytesUploaded, 0);
      assert.ok(!proxy.requests.slice(seen).some((q) => q.method === 'PATCH'), 'no layer goes up again');

      // A blob of the finished result gone from the registry: only that layer goes up again.
      const gone = decodePartResult(done.text).layers[1]!;
      assert.equal((await fetch(`${registry.url}/v2/models/killed/blobs/${gone.digest}`, { method: 'DELETE' })).status, 202);
      const repaired = await pushPart(image, source, '1/1');
      assert.equal(repaired.code, 0, repaired.stderr);
      const summary3 = lineWith(repaired.stderr, 'push finished')!;
      assert.deepEqual([summary3.layersStreamed, summary3.layersSkipped], [1, 1], repaired.stderr.slice(-2000));
      assert.ok(await blobExists('models/killed', gone.digest), 'the layer is back');
    } finally {
      await proxy.stop();
    }
  });

  it('SIGTERM stops a part at once: the stream is aborted, no result is pushed', async () => {
    const proxy = await startFaultProxy(registry.url);
    try {
      const image = `${new URL(proxy.url).host}/models/stopped:v1`;
      const source = rgwSourceEnv(s3, 'kill');
      const planned = await plan(image, source, 1);
      assert.equal(planned.code, 0, planned.stderr);
      proxy.rules.push({ method: 'PATCH', delayMs: 60_000 });
      const ws = await dir('ms-stopped-');
      const stopped = await runCliSignalled(
        ['push', '--part', '1/1'],
        { MODEL_SYNC_STORAGE_PATH: ws, ...source, ...destination(image), MODEL_SYNC_PUSH_CONCURRENCY: '1' },
        { signal: 'SIGTERM', when: () => proxy.requests.some((q) => q.fault) },
        { timeoutMs: 120_000 },
      );
      assert.equal(stopped.code, 143, stopped.stderr.slice(-2000));
      assert.ok(stopped.msAfterSignal < 10_000, `exited ${stopped.msAfterSignal} ms after SIGTERM, not when the held PATCH ended`);
      assert.equal(await pullPartDocument(target(`${registry.host}/models/stopped:v1`), partTag('v1', 1, 1)), undefined, 'no result, no progress: no layer finished');
    } finally {
      await proxy.stop();
    }
  });

  it('refusals: a selector of another count, a source changed since plan, no plan', async () => {
    const image = `${registry.host}/models/granite:v1`; // planned with 3 parts by the first test
    const wrong = await pushPart(image, rgwSourceEnv(s3, 'model'), '2/4');
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(wrong.stderr, /--part \/ MODEL_SYNC_PART is 2\/4.*has 3 parts/);

    const changedImage = `${registry.host}/models/changed:v1`;
    const planned = await plan(changedImage, rgwSourceEnv(s3, 'change'), 1);
    assert.equal(planned.code, 0, planned.stderr);
    await s3.put('change/weights.bin', randomBytes(2 * MiB)); // same size, another version
    const changed = await pushPart(changedImage, rgwSourceEnv(s3, 'change'), '1/1');
    assert.equal(changed.code, 3, changed.stderr);
    assert.match(changed.stderr, /weights\.bin has another version.*run plan again/);

    const none = await pushPart(`${registry.host}/models/never-planned:v1`, rgwSourceEnv(s3, 'model'), '1/2');
    assert.equal(none.code, 5, none.stderr);
    assert.match(none.stderr, /no scale-out plan.*run plan first/);
  });
});

/** A one-file tar archive, enough for the archive source. */
function tarOf(name: string, body: Buffer): Buffer {
  const header = encodeTarHeader({ name, type: 'file', mode: 0o644, size: body.length });
  return Buffer.concat([header, body, Buffer.alloc(padded(body.length) - body.length + 1024)]);
}
