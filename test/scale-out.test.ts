// Issue 15's "done when", end to end on real servers (Ceph RGW as the source, docker-registry as
// the destination, the Model Registry stand-in for `all`): plan → 3 parallel `push --part`
// processes, each on its own volume → assemble gives the image digest the streaming `all` gives
// for the same model and base.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../dev/cli.js';
import { startRegistry, type TestRegistry } from '../dev/registry.js';
import type { Rgw } from '../dev/rgw.js';
import { useStandin } from './support/model-registry.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';
import { MiB, pushMinimalBase, scaleOutSkip } from './support/scale-out.js';

const mr = useStandin();
const rgw = useRgw();

const skip = scaleOutSkip;

describe('scale-out end to end: plan, parallel parts, assemble', { skip }, () => {
  let registry: TestRegistry;
  let s3: Rgw;
  let base = '';
  const model: Record<string, Buffer> = {
    'config.json': Buffer.from('{"architectures":["Tiny"]}'),
    'tokenizer/tokenizer.json': randomBytes(300 * 1024),
    [`${'deep/'.repeat(24)}long-name.txt`]: Buffer.from('a path of more than 100 bytes takes a GNU long-name record'),
    'weights/model-00001-of-00003.safetensors': randomBytes(3 * MiB + 5),
    'weights/model-00002-of-00003.safetensors': randomBytes(2 * MiB),
    'weights/model-00003-of-00003.safetensors': randomBytes(MiB + 4096),
  };

  before(async () => {
    [registry, s3] = await Promise.all([startRegistry({ mode: 'plain' }), rgw.ready]);
    for (const [name, body] of Object.entries(model)) await s3.put(`granite/${name}`, body);
    base = await pushMinimalBase(registry, await mr.dir('ms-base-'));
  });
  after(async () => {
    await registry?.stop();
  });

  const destination = (tag: string) => ({
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/granite:${tag}`,
    MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
    MODEL_SYNC_RETRY_ATTEMPTS: '2',
  });
  const budget = () => ({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base, MODEL_SYNC_MODELCAR_OWN_LAYER_BYTES: String(MiB) });
  const result = (ws: string, name: string) => readFile(path.join(ws, '.model-sync/results', name), 'utf8');

  it('plan → 3 parallel push --part → assemble gives the image digest of all', async () => {
    const source = rgwSourceEnv(s3, 'granite');
    const planWs = await mr.dir('ms-plan-');
    const planned = await runCli(['plan'], { MODEL_SYNC_STORAGE_PATH: planWs, ...source, ...destination('parts'), ...budget(), MODEL_SYNC_PARTS: '3' }, { timeoutMs: 120_000 });
    assert.equal(planned.code, 0, planned.stderr);
    const parts = JSON.parse(await result(planWs, 'parts')) as string[];
    assert.deepEqual(parts, ['1/3', '2/3', '3/3']);

    const runs = await Promise.all(
      parts.map(async (part) => runCli(['push', '--part', part], { MODEL_SYNC_STORAGE_PATH: await mr.dir('ms-part-'), ...source, ...destination('parts') }, { timeoutMs: 120_000 })),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);

    const assembleWs = await mr.dir('ms-assemble-');
    const assembled = await runCli(['assemble'], { MODEL_SYNC_STORAGE_PATH: assembleWs, ...destination('parts') }, { timeoutMs: 120_000 });
    assert.equal(assembled.code, 0, assembled.stderr);
    const assembledDigest = await result(assembleWs, 'image-digest');
    assert.match(assembledDigest, /^sha256:[a-f0-9]{64}$/);

    const allWs = await mr.dir('ms-all-');
    const metadata = await mr.meta({ 'RegisteredModel.name': 'scale-out-granite', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'scale-out-granite' });
    const all = await runCli(['all'], mr.env(allWs, metadata, 'create_model', { ...source, ...destination('all'), ...budget(), MODEL_SYNC_RETRY_ATTEMPTS: '2' }), { timeoutMs: 180_000 });
    assert.equal(all.code, 0, all.stderr);
    const pushed = JSON.parse(await readFile(path.join(allWs, '.model-sync/push.json'), 'utf8')) as { digest: string };
    assert.equal(assembledDigest, pushed.digest, 'the parts assemble into the image all builds for the same model and base');
  });

  it('with --destination-oci-format both, assemble adds the ModelPack manifest as all does: the same index', async () => {
    // One tag for both runs: the ModelPack descriptor's version is the tag.
    const source = rgwSourceEnv(s3, 'granite');
    const both = { ...destination('both'), MODEL_SYNC_DESTINATION_OCI_FORMAT: 'both' };
    const planWs = await mr.dir('ms-plan-');
    const planned = await runCli(['plan'], { MODEL_SYNC_STORAGE_PATH: planWs, ...source, ...both, ...budget(), MODEL_SYNC_PARTS: '2' }, { timeoutMs: 120_000 });
    assert.equal(planned.code, 0, planned.stderr);
    for (const part of JSON.parse(await result(planWs, 'parts')) as string[]) {
      const run = await runCli(['push', '--part', part], { MODEL_SYNC_STORAGE_PATH: await mr.dir('ms-part-'), ...source, ...destination('both') }, { timeoutMs: 120_000 });
      assert.equal(run.code, 0, run.stderr);
    }
    // assemble takes the format from the plan, not from its own settings.
    const assembleWs = await mr.dir('ms-assemble-');
    const assembled = await runCli(['assemble'], { MODEL_SYNC_STORAGE_PATH: assembleWs, ...destination('both') }, { timeoutMs: 120_000 });
    assert.equal(assembled.code, 0, assembled.stderr);
    const assembledDigest = await result(assembleWs, 'image-digest');

    const allWs = await mr.dir('ms-all-');
    const metadata = await mr.meta({ 'RegisteredModel.name': 'scale-out-both', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'scale-out-both' });
    const all = await runCli(['all'], mr.env(allWs, metadata, 'create_model', { ...source, ...both, ...budget() }), { timeoutMs: 180_000 });
    assert.equal(all.code, 0, all.stderr);
    const pushed = JSON.parse(await readFile(path.join(allWs, '.model-sync/push.json'), 'utf8')) as { digest: string; ociFormat: string };
    assert.equal(pushed.ociFormat, 'both');
    assert.equal(assembledDigest, pushed.digest, 'the parts assemble into the index all builds, ModelPack manifest included');
    const index = (await (await fetch(`http://${registry.host}/v2/models/granite/manifests/${pushed.digest}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })).json()) as { manifests: Array<{ artifactType?: string }> };
    assert.equal(index.manifests.filter((m) => m.artifactType === 'application/vnd.cncf.model.manifest.v1+json').length, 1);
  });
});
