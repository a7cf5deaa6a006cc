// Fidelity with the Model Registry UI (BFF) and upstream's job, through the built CLI against the
// stand-in: typed custom properties as the UI writes them, 1.0 kept a double, upstream's defaults
// for empty or absent names, update_artifact changing only the URI and state unless
// --update-artifact-metadata, and unknown ConfigMap keys as warnings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../dev/cli.js';
import { EXIT } from '../src/errors.js';
import type { ModelArtifact } from '../src/model-registry/types.js';
import { useStandin } from './support/model-registry.js';

const mr = useStandin();
const { meta } = mr;

/** The settings of a run in a fresh workspace. */
async function env(metadata: string | undefined, intent: string, extra: Record<string, string | undefined> = {}) {
  return mr.env(await mr.dir('ms-ws-'), metadata, intent, extra);
}

const TYPED_MODEL = '{"License":{"metadataType":"MetadataStringValue","string_value":"apache-2.0"},"Provider":{"metadataType":"MetadataStringValue","string_value":"IBM"}}';
const TYPED_VERSION = '{"Tasks":{"metadataType":"MetadataStringValue","string_value":"text-generation"},"params":{"metadataType":"MetadataIntValue","int_value":"8"}}';

/** The ConfigMap the BFF builds (buildModelMetadataConfigMap), for a job named `job`. */
function bffConfigMap(job: string, extra: Record<string, string>): Record<string, string> {
  return {
    'ModelVersion.name': '',
    'ModelVersion.author': '',
    'ModelArtifact.name': '',
    'ModelArtifact.model_source_kind': 'transfer_job',
    'ModelArtifact.model_source_class': 'async-upload',
    'ModelArtifact.model_source_group': 'team-ns',
    'ModelArtifact.model_source_name': job,
    ...extra,
  };
}

const onlyArtifact = mr.artifactOf;

describe('create_model from the UI', () => {
  it('stores typed custom properties as given, keeps 1.0 a double, and falls back on empty names and author', async () => {
    const metadata = await meta(
      bffConfigMap('ui-cm', {
        'RegisteredModel.name': 'granite-ui',
        'RegisteredModel.description': '',
        'RegisteredModel.owner': 'alice',
        'RegisteredModel.customProperties': TYPED_MODEL,
        'ModelVersion.customProperties': TYPED_VERSION,
        'ModelArtifact.customProperties': '{"accuracy": 1.0, "epochs": 3, "rate": 1e-3}',
        'ModelArtifact.model_format_version': '1.0',
      }),
    );
    const e = await env(metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/granite:1', MODEL_SYNC_REGISTRY_AUTHOR: 'pipeline-bot' });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const model = (await mr.client.findRegisteredModel('granite-ui'))!;
    assert.deepEqual(model.customProperties, JSON.parse(TYPED_MODEL));
    const version = (await mr.client.findModelVersion('1.0.0', model.id))!;
    assert.ok(version, 'an empty ModelVersion.name means 1.0.0 for create_model');
    assert.equal(version.author, 'pipeline-bot', 'an empty ModelVersion.author falls back to --registry-author');
    assert.deepEqual(version.customProperties, JSON.parse(TYPED_VERSION));
    const artifact = await onlyArtifact(version.id);
    assert.equal(artifact.name, 'granite-ui', 'an empty ModelArtifact.name means the model name');
    assert.equal(artifact.modelFormatVersion, '1.0');
    assert.deepEqual(artifact.customProperties, {
      accuracy: { metadataType: 'MetadataDoubleValue', double_value: 1 },
      epochs: { metadataType: 'MetadataIntValue', int_value: '3' },
      rate: { metadataType: 'MetadataDoubleValue', double_value: 0.001 },
    });
  });

  it('refuses an invalid typed value before any registry call, naming the key and the property (exit 2)', async () => {
    const metadata = await meta({ 'RegisteredModel.name': 'bad-typed', 'RegisteredModel.customProperties': '{"License":{"metadataType":"MetadataIntValue","int_value":"apache"}}' });
    const calls = mr.standin.state.exchanges.length;
    const pre = await runCli(['preflight'], await env(metadata, 'create_model'));
    assert.equal(pre.code, EXIT.config, pre.stderr);
    assert.match(pre.termination, /metadata ConfigMap key RegisteredModel\.customProperties in .*: property "License" is not a valid Model Registry MetadataValue: int_value must match pattern/);
    assert.equal(mr.standin.state.exchanges.length, calls);
  });

  it('warns about an unknown key (one line, with the folder and the closest key) and goes on', async () => {
    const metadata = await meta({ 'RegisteredModel.name': 'unknown-key', 'RegisteredModel.ownr': 'bob', 'Catalog.sourceId': 'x' });
    const pre = await runCli(['preflight'], await env(metadata, 'create_model'));
    assert.equal(pre.code, 0, pre.stderr);
    const warnings = pre.stderr.split('\n').filter((l) => l.includes('is not known to model-sync'));
    assert.equal(warnings.length, 2, pre.stderr);
    const typo = JSON.parse(warnings.find((l) => l.includes('RegisteredModel.ownr'))!) as { level: string; msg: string };
    assert.equal(typo.level, 'warn');
    assert.match(typo.msg, new RegExp(`RegisteredModel\\.ownr in ${metadata} .*did you mean RegisteredModel\\.owner\\?`));
  });

  it('still refuses a malformed value of a known key', async () => {
    const metadata = await meta({ 'RegisteredModel.name': 'bad-id', 'RegisteredModel.id': '12a', 'Future.key': 'x' });
    const pre = await runCli(['preflight'], await env(metadata, 'create_model'));
    assert.equal(pre.code, EXIT.config);
    assert.match(pre.termination, /RegisteredModel\.id: must match pattern/);
  });
});

describe('create_version from the UI', () => {
  it('names the artifact after the registered model when ModelArtifact.name is empty or absent', async () => {
    for (const suffix of ['empty', 'absent']) {
      const model = await mr.client.createRegisteredModel({ name: `cv-named-${suffix}`, state: 'LIVE' });
      const cm = bffConfigMap(`cv-${suffix}`, { 'RegisteredModel.id': model.id, 'ModelVersion.name': '2.0.0' });
      if (suffix === 'absent') delete cm['ModelArtifact.name'];
      const e = await env(await meta(cm), 'create_version', { MODEL_SYNC_MODEL_URI: `oci://r.example/cv-${suffix}:2` });
      assert.equal((await runCli(['preflight'], e)).code, 0);
      const reg = await runCli(['register'], e);
      assert.equal(reg.code, 0, reg.stderr);
      const version = (await mr.client.findModelVersion('2.0.0', model.id))!;
      assert.equal((await onlyArtifact(version.id)).name, `cv-named-${suffix}`);
    }
  });

  it('an empty or absent ModelVersion.name fails as upstream, before any registry call (exit 2)', async () => {
    const model = await mr.client.createRegisteredModel({ name: 'cv-noname', state: 'LIVE' });
    for (const files of [{ 'ModelVersion.name': '' }, {}] as Array<Record<string, string>>) {
      const metadata = await meta({ 'RegisteredModel.id': model.id, ...files });
      const calls = mr.standin.state.exchanges.length;
      const pre = await runCli(['preflight'], await env(metadata, 'create_version'));
      assert.equal(pre.code, EXIT.config, pre.stderr);
      assert.match(pre.termination, new RegExp(`^ModelVersion name is required for create_version intent: .*ModelVersion\\.name in ${metadata} \\(--metadata-configmap-path`));
      assert.equal(mr.standin.state.exchanges.length, calls);
    }
  });
});

describe('mark-failed', () => {
  it('stays lenient: an invalid typed value or a missing version name does not stop the clean-up', async () => {
    const model = await mr.client.createRegisteredModel({ name: 'mf-lenient', state: 'LIVE' });
    const metadata = await meta({ 'RegisteredModel.id': model.id, 'ModelVersion.name': '', 'ModelVersion.customProperties': '{"x":{"metadataType":"MetadataIntValue","int_value":1}}' });
    const mf = await runCli(['mark-failed', '--failure-reason', 'push failed'], await env(metadata, 'create_version'));
    assert.equal(mf.code, 0, mf.stderr);
    assert.match(mf.stderr, /metadata problem ignored while marking the job failed: .*ModelVersion\.customProperties/);
    assert.equal((await mr.client.getRegisteredModel(model.id))!.state, 'LIVE', 'an existing model is left alone');
  });
});

describe('update_artifact from the UI', () => {
  async function placeholder(name: string) {
    const model = await mr.client.createRegisteredModel({ name, state: 'LIVE' });
    const version = await mr.client.createModelVersion({ name: 'v1', registeredModelId: model.id, state: 'LIVE' });
    const artifact = await mr.client.createModelVersionArtifact(version.id, {
      artifactType: 'model-artifact',
      name: 'v1',
      uri: 'PLACEHOLDER',
      state: 'UNKNOWN',
      description: 'original',
      modelFormatName: 'onnx',
      modelFormatVersion: '1',
      modelSourceKind: 'catalog',
      modelSourceName: 'original-source',
      customProperties: { info: { metadataType: 'MetadataStructValue', struct_value: Buffer.from('{"k":"v"}').toString('base64') } },
    });
    return { model, version, artifact };
  }

  /** The ConfigMap of an update_artifact payload: empty version name and author, fields that differ from the artifact's. */
  function uiConfigMap(ids: { model: string; version: string; artifact: string }, job: string) {
    return bffConfigMap(job, {
      'RegisteredModel.id': ids.model,
      'ModelVersion.id': ids.version,
      'ModelArtifact.id': ids.artifact,
      'ModelVersion.description': 'from the UI',
      'ModelArtifact.description': 'from the UI',
      'ModelArtifact.model_format_name': 'pytorch',
      'ModelArtifact.model_format_version': '1.0',
      'ModelVersion.customProperties': TYPED_VERSION,
      'ModelArtifact.customProperties': TYPED_VERSION,
    });
  }

  const stable = (a: ModelArtifact) => {
    const { uri: _uri, state: _state, lastUpdateTimeSinceEpoch: _t, ...rest } = a;
    return rest;
  };

  it('by default changes only the URI and the state, as upstream: every other field stays as it was', async () => {
    const { model, version, artifact } = await placeholder('ua-default');
    const before = (await mr.client.getModelArtifact(artifact.id))!;
    const e = await env(await meta(uiConfigMap({ model: model.id, version: version.id, artifact: artifact.id }, 'ua-default-job')), 'update_artifact', { MODEL_SYNC_MODEL_URI: 'oci://r.example/ua-d:1' });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const from = mr.standin.state.exchanges.length;
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const patches = mr.standin.state.exchanges.slice(from).filter((x) => x.method === 'PATCH');
    assert.deepEqual(
      patches.map((x) => x.requestBody),
      [{ uri: 'oci://r.example/ua-d:1', state: 'LIVE' }],
    );
    const now = (await mr.client.getModelArtifact(artifact.id))!;
    assert.equal(now.uri, 'oci://r.example/ua-d:1');
    assert.equal(now.state, 'LIVE');
    assert.deepEqual(stable(now), stable(before));
    assert.match(reg.stderr, /ModelArtifact fields are not applied \(as upstream\); set --update-artifact-metadata/);
    assert.deepEqual(JSON.parse(reg.termination), { intent: 'update_artifact', RegisteredModel: { id: model.id }, ModelVersion: { id: version.id }, ModelArtifact: { id: artifact.id } });
  });

  it('with --update-artifact-metadata applies the ConfigMap fields, custom properties merged', async () => {
    const { model, version, artifact } = await placeholder('ua-optin');
    const e = await env(await meta(uiConfigMap({ model: model.id, version: version.id, artifact: artifact.id }, 'ua-optin-job')), 'update_artifact', {
      MODEL_SYNC_MODEL_URI: 'oci://r.example/ua-o:1',
      MODEL_SYNC_UPDATE_ARTIFACT_METADATA: 'true',
    });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const now = (await mr.client.getModelArtifact(artifact.id))!;
    assert.equal(now.state, 'LIVE');
    assert.equal(now.uri, 'oci://r.example/ua-o:1');
    assert.equal(now.name, 'v1', 'an artifact is never renamed');
    assert.equal(now.description, 'from the UI');
    assert.equal(now.modelFormatName, 'pytorch');
    assert.equal(now.modelFormatVersion, '1.0');
    assert.equal(now.modelSourceKind, 'transfer_job');
    assert.equal(now.modelSourceName, 'ua-optin-job');
    assert.deepEqual(now.customProperties, { info: { metadataType: 'MetadataStructValue', struct_value: '{"k":"v"}' }, ...JSON.parse(TYPED_VERSION) });
  });

  it("removes mark-failed's own failure reason on a re-run, and nothing else", async () => {
    const { artifact } = await placeholder('ua-rerun');
    const e = await env(undefined, 'update_artifact', { MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id, MODEL_SYNC_MODEL_URI: 'oci://r.example/ua-r:1' });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    assert.equal((await runCli(['mark-failed', '--failure-reason', 'push failed'], e)).code, 0);
    assert.ok((await mr.client.getModelArtifact(artifact.id))!.customProperties?.model_sync_failure_reason);
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const now = (await mr.client.getModelArtifact(artifact.id))!;
    assert.equal(now.state, 'LIVE');
    assert.deepEqual(now.customProperties, { info: { metadataType: 'MetadataStructValue', struct_value: '{"k":"v"}' } });
    assert.equal(now.modelFormatName, 'onnx');
  });
});
