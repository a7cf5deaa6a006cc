// preflight, register and mark-failed through the built CLI against the Model Registry stand-in:
// each intent's success path and precondition failures, termination messages, re-runs after a
// crash between entity creations, and the end states mark-failed leaves.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT } from '../src/errors.js';
import { runCli } from '../dev/cli.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { SAMPLE_CREATE_MODEL, useStandin } from './support/model-registry.js';

const mr = useStandin();
const { dir, meta, env } = mr;

function named(files: Record<string, string>, suffix: string): Record<string, string> {
  return {
    ...files,
    'RegisteredModel.name': `${files['RegisteredModel.name'] ?? 'model'}-${suffix}`,
    'ModelArtifact.model_source_name': `job-${suffix}`,
  };
}

const artifactOf = mr.artifactOf;

describe('create_model', () => {
  it('creates RegisteredModel, ModelVersion and ModelArtifact from the ConfigMap; termination message as upstream', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'ok'));
    const e = env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://127.0.0.1:5000/models/sentiment:1.0.0' });
    const pre = await runCli(['preflight'], e);
    assert.equal(pre.code, 0, pre.stderr);
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const model = (await mr.client.findRegisteredModel('sentiment-ok'))!;
    const version = (await mr.client.findModelVersion('1.0.0', model.id))!;
    const artifact = await artifactOf(version.id);
    assert.equal(
      reg.termination,
      `{\n  "intent": "create_model",\n  "RegisteredModel": {\n    "id": "${model.id}"\n  },\n  "ModelVersion": {\n    "id": "${version.id}"\n  },\n  "ModelArtifact": {\n    "id": "${artifact.id}"\n  }\n}`,
    );
    assert.equal(model.owner, 'data-science-team');
    assert.equal(model.description, 'A sentiment model.\nTrained on text.');
    assert.deepEqual(model.customProperties?.team, { metadataType: 'MetadataStringValue', string_value: 'nlp-research' });
    assert.equal(version.author, 'Jane Smith');
    assert.deepEqual(version.customProperties?.epochs, { metadataType: 'MetadataIntValue', int_value: '3' });
    assert.equal(artifact.name, 'sentiment-analyzer');
    assert.equal(artifact.uri, 'oci://127.0.0.1:5000/models/sentiment:1.0.0');
    assert.equal(artifact.state, 'LIVE');
    assert.equal(artifact.modelFormatName, 'onnx');
    assert.equal(artifact.modelSourceKind, 'transfer_job');
    assert.deepEqual(artifact.customProperties?.supported_languages, { metadataType: 'MetadataStructValue', struct_value: '{"supported_languages":["en","es","fr"]}' });
    assert.equal(await readFile(path.join(ws, '.model-sync/results/registered-model-id'), 'utf8'), model.id);
    assert.equal(await readFile(path.join(ws, '.model-sync/results/model-artifact-id'), 'utf8'), artifact.id);
    assert.deepEqual(JSON.parse(reg.stdout), { 'registered-model-id': model.id, 'model-version-id': version.id, 'model-artifact-id': artifact.id, 'model-uri': artifact.uri });
  });

  it('needs only RegisteredModel.name (upstream: all three groups): version 1.0.0, artifact named after the model, created LIVE in one call', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta({ 'RegisteredModel.name': 'only-a-name' });
    const e = env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://127.0.0.1:5000/models/only:1' });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const from = mr.standin.state.exchanges.length;
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const model = (await mr.client.findRegisteredModel('only-a-name'))!;
    const version = (await mr.client.findModelVersion('1.0.0', model.id))!;
    const artifact = await artifactOf(version.id);
    assert.equal(artifact.name, 'only-a-name');
    assert.equal(artifact.state, 'LIVE');
    // upstream POSTs the artifact UNKNOWN and PATCHes it LIVE; here the POST says LIVE and no PATCH follows
    const artifactCalls = mr.standin.state.exchanges.slice(from).filter((x) => /artifacts/.test(x.path) && x.method !== 'GET');
    assert.deepEqual(artifactCalls.map((x) => `${x.method} ${(x.requestBody as { state?: string }).state}`), ['POST LIVE']);
  });

  it('fails the precondition when another RegisteredModel has the name', async () => {
    await mr.client.createRegisteredModel({ name: 'taken-name', state: 'LIVE' });
    const ws = await dir('ms-ws-');
    const metadata = await meta({ ...SAMPLE_CREATE_MODEL, 'RegisteredModel.name': 'taken-name' });
    const pre = await runCli(['preflight'], env(ws, metadata, 'create_model'));
    assert.equal(pre.code, EXIT.precondition);
    assert.match(pre.termination, /^Cannot create model: RegisteredModel with name 'taken-name' already exists \(ID: \d+\).*Use 'create_version' intent to add a new version/);
  });

  it('needs RegisteredModel.name, and says where the ConfigMap is read from', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta({ 'ModelVersion.name': 'v1' });
    const pre = await runCli(['preflight'], env(ws, metadata, 'create_model'));
    assert.equal(pre.code, EXIT.config);
    assert.match(pre.termination, /create_model needs the metadata ConfigMap key RegisteredModel\.name in .*MODEL_SYNC_METADATA_CONFIGMAP_PATH/);
  });

  it('refuses an invalid ConfigMap before any registry call, naming the key', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta({ ...SAMPLE_CREATE_MODEL, 'ModelVersion.custom_properties': '{bad json' });
    const calls = mr.standin.state.exchanges.length;
    const pre = await runCli(['preflight'], env(ws, metadata, 'create_model'));
    assert.equal(pre.code, EXIT.config);
    assert.match(pre.termination, /ModelVersion\.custom_properties .*is not valid JSON/);
    assert.equal(mr.standin.state.exchanges.length, calls);
  });
});

describe('create_version', () => {
  it('adds a ModelVersion and ModelArtifact under --model-id', async () => {
    const model = await mr.client.createRegisteredModel({ name: 'cv-base', state: 'LIVE' });
    const ws = await dir('ms-ws-');
    const metadata = await meta({ 'ModelVersion.name': '2.0.0', 'ModelArtifact.model_format_name': 'pytorch' });
    const e = env(ws, metadata, 'create_version', { MODEL_SYNC_MODEL_ID: model.id, MODEL_SYNC_MODEL_URI: 'oci://r.example/m:2', MODEL_SYNC_REGISTRY_AUTHOR: 'Alice' });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    const version = (await mr.client.findModelVersion('2.0.0', model.id))!;
    assert.equal(version.author, 'Alice');
    const artifact = await artifactOf(version.id);
    assert.equal(artifact.uri, 'oci://r.example/m:2');
    assert.deepEqual(JSON.parse(reg.termination), { intent: 'create_version', RegisteredModel: { id: model.id }, ModelVersion: { id: version.id }, ModelArtifact: { id: artifact.id } });
  });

  it('fails the precondition when the model does not exist', async () => {
    const ws = await dir('ms-ws-');
    const pre = await runCli(['preflight'], env(ws, await meta({ 'ModelVersion.name': 'x' }), 'create_version', { MODEL_SYNC_MODEL_ID: '99999' }));
    assert.equal(pre.code, EXIT.precondition);
    assert.match(pre.termination, /^Cannot create version: RegisteredModel with ID '99999' not found\. Use 'create_model' intent to create a new model first/);
  });

  it('fails the precondition when another job made a version with the name', async () => {
    const model = await mr.client.createRegisteredModel({ name: 'cv-taken', state: 'LIVE' });
    const version = await mr.client.createModelVersion({ name: '1.0.0', registeredModelId: model.id, state: 'LIVE' });
    await mr.client.createModelVersionArtifact(version.id, { artifactType: 'model-artifact', uri: 'oci://elsewhere/x:1', modelSourceKind: 'transfer_job', modelSourceName: 'another-job', state: 'LIVE' });
    const ws = await dir('ms-ws-');
    const metadata = await meta({ 'ModelVersion.name': '1.0.0', 'ModelArtifact.model_source_kind': 'transfer_job', 'ModelArtifact.model_source_name': 'this-job' });
    const pre = await runCli(['preflight'], env(ws, metadata, 'create_version', { MODEL_SYNC_MODEL_ID: model.id }));
    assert.equal(pre.code, EXIT.precondition);
    assert.match(pre.termination, /^Cannot create version: ModelVersion with name '1\.0\.0' already exists under RegisteredModel 'cv-taken' \(ID: \d+\).*Use 'update_artifact' intent/);
  });
});

describe('update_artifact', () => {
  async function placeholder(name: string) {
    const model = await mr.client.createRegisteredModel({ name, state: 'LIVE' });
    const version = await mr.client.createModelVersion({ name: 'v1', registeredModelId: model.id, state: 'LIVE' });
    const artifact = await mr.client.createModelVersionArtifact(version.id, {
      artifactType: 'model-artifact',
      name: 'v1',
      uri: 'PLACEHOLDER',
      state: 'UNKNOWN',
      modelFormatName: 'onnx',
      customProperties: { info: { metadataType: 'MetadataStructValue', struct_value: Buffer.from('{"k":"v"}').toString('base64') } },
    });
    return { model, version, artifact };
  }

  it('preflight sets PENDING keeping the fields; register sets only the URI and LIVE; ids from the UI ConfigMap', async () => {
    const { model, version, artifact } = await placeholder('ua-ok');
    const ws = await dir('ms-ws-');
    // as the Model Registry UI writes it: ids in the ConfigMap only, camelCase custom properties
    const metadata = await meta({ 'RegisteredModel.id': model.id, 'ModelVersion.id': version.id, 'ModelArtifact.id': artifact.id, 'ModelArtifact.customProperties': '{"checked": true}' });
    const e = env(ws, metadata, 'update_artifact', { MODEL_SYNC_MODEL_URI: 'oci://r.example/ua:1' });
    const pre = await runCli(['preflight'], e);
    assert.equal(pre.code, 0, pre.stderr);
    let now = (await mr.client.getModelArtifact(artifact.id))!;
    assert.equal(now.state, 'PENDING');
    assert.equal(now.uri, 'PLACEHOLDER');
    assert.equal(now.modelFormatName, 'onnx');
    const reg = await runCli(['register'], e);
    assert.equal(reg.code, 0, reg.stderr);
    now = (await mr.client.getModelArtifact(artifact.id))!;
    assert.equal(now.state, 'LIVE');
    assert.equal(now.uri, 'oci://r.example/ua:1');
    assert.equal(now.modelFormatName, 'onnx');
    assert.equal(now.name, 'v1');
    assert.deepEqual(now.customProperties, { info: { metadataType: 'MetadataStructValue', struct_value: '{"k":"v"}' } }, 'as upstream, ConfigMap custom properties are not applied without --update-artifact-metadata');
    assert.deepEqual(JSON.parse(reg.termination), { intent: 'update_artifact', RegisteredModel: { id: model.id }, ModelVersion: { id: version.id }, ModelArtifact: { id: artifact.id } });
  });

  it('with only --model-artifact-id the message holds the intent and the artifact', async () => {
    const { artifact } = await placeholder('ua-flag');
    const ws = await dir('ms-ws-');
    const reg = await runCli(['register'], env(ws, undefined, 'update_artifact', { MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id, MODEL_SYNC_MODEL_URI: 'oci://r.example/ua:2' }));
    assert.equal(reg.code, 0, reg.stderr);
    assert.equal(reg.termination, `{\n  "intent": "update_artifact",\n  "ModelArtifact": {\n    "id": "${artifact.id}"\n  }\n}`);
  });

  it('fails the precondition when the artifact does not exist', async () => {
    const ws = await dir('ms-ws-');
    const pre = await runCli(['preflight'], env(ws, undefined, 'update_artifact', { MODEL_SYNC_MODEL_ARTIFACT_ID: '99999' }));
    assert.equal(pre.code, EXIT.precondition);
    assert.match(pre.termination, /ModelArtifact with ID '99999' not found/);
  });

  it('register without a URI is a config error naming --model-uri', async () => {
    const ws = await dir('ms-ws-');
    const reg = await runCli(['register'], env(ws, undefined, 'update_artifact', { MODEL_SYNC_MODEL_ARTIFACT_ID: '1' }));
    assert.equal(reg.code, EXIT.config);
    assert.match(reg.termination, /--model-uri \/ MODEL_SYNC_MODEL_URI/);
  });

  it('mark-failed sets a PENDING artifact to ABANDONED with the reason and says which ids exist', async () => {
    const { artifact } = await placeholder('ua-fail');
    const ws = await dir('ms-ws-');
    const e = env(ws, undefined, 'update_artifact', { MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id });
    assert.equal((await runCli(['preflight'], e)).code, 0);
    const mf = await runCli(['mark-failed', '--failure-reason', 'push failed: registry said no'], e);
    assert.equal(mf.code, 0, mf.stderr);
    const now = (await mr.client.getModelArtifact(artifact.id))!;
    assert.equal(now.state, 'ABANDONED');
    assert.equal(now.uri, 'PLACEHOLDER');
    assert.deepEqual(now.customProperties?.model_sync_failure_reason, { metadataType: 'MetadataStringValue', string_value: 'push failed: registry said no' });
    assert.ok(now.customProperties?.info, 'other custom properties kept');
    assert.match(mf.termination, new RegExp(`ModelArtifact ${artifact.id} \\(existing, now ABANDONED\\)`));
  });
});

describe('re-runs and failures', () => {
  it('a re-run in the same workspace continues after a crash between RegisteredModel and ModelVersion', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'crash1'));
    const e = env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/c1:1' });
    mr.standin.state.faults.push({ method: 'POST', path: '/model_versions', status: 500, times: 5 });
    const first = await runCli(['register'], e);
    assert.equal(first.code, EXIT.transient, first.stderr);
    const record = JSON.parse(await readFile(path.join(ws, '.model-sync/register.json'), 'utf8')) as { registeredModel: { id: string } };
    const model = (await mr.client.findRegisteredModel('sentiment-crash1'))!;
    assert.equal(record.registeredModel.id, model.id, 'the model id was recorded as soon as it existed');
    const second = await runCli(['register'], e);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.termination).RegisteredModel.id, model.id);
  });

  it('a retried pod (fresh workspace) recognises the version it created before the crash', async () => {
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'crash2'));
    mr.standin.state.faults.push({ method: 'POST', path: /^\/model_versions\/\d+\/artifacts$/, status: 500, times: 5 });
    const first = await runCli(['register'], env(await dir('ms-ws-'), metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/c2:1' }));
    assert.equal(first.code, EXIT.transient);
    assert.match(first.termination, /HTTP 500/);
    const e2 = env(await dir('ms-ws-'), metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/c2:1' });
    assert.equal((await runCli(['preflight'], e2)).code, 0, 'preflight accepts the model this job created');
    const second = await runCli(['register'], e2);
    assert.equal(second.code, 0, second.stderr);
    const model = (await mr.client.findRegisteredModel('sentiment-crash2'))!;
    const versions = await mr.client.listRegisteredModelVersions(model.id);
    assert.equal(versions.length, 1);
    assert.equal((await artifactOf(versions[0]!.id)).uri, 'oci://r.example/c2:1');
  });

  it('--retry-attempts reaches the Model Registry client: each request is tried that many times in all', async () => {
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'attempts'));
    const proxy = await startFaultProxy(mr.standin.url);
    try {
      const fault = { method: 'POST', path: '/api/model_registry/v1alpha3/registered_models', status: 503, retryAfter: '0', times: 3 };
      proxy.rules.push(fault);
      const e = {
        ...env(await dir('ms-ws-'), metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/at:1', MODEL_SYNC_RETRY_ATTEMPTS: '2' }),
        MODEL_SYNC_REGISTRY_SERVER_ADDRESS: proxy.url,
      };
      const first = await runCli(['register'], e);
      assert.equal(first.code, EXIT.transient, first.stderr);
      assert.equal(fault.times, 1, 'two attempts were made, not the default five');
      const second = await runCli(['register', '--retry-attempts', '2'], e);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(fault.times, 0);
    } finally {
      await proxy.stop();
    }
  });

  it('a POST whose answer was lost (connection dropped after the commit) is not created twice', async () => {
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'drop'));
    mr.standin.state.faults.push({ method: 'POST', path: '/registered_models', dropAfterCommit: true, times: 1 });
    const run = await runCli(['register'], env(await dir('ms-ws-'), metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/d:1' }));
    assert.equal(run.code, 0, run.stderr);
    const all = [...mr.standin.state.models.values()].filter((m) => m.name === 'sentiment-drop');
    assert.equal(all.length, 1);
  });

  it('mark-failed archives what create_model half-made; a re-run revives it', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'archive'));
    const e = env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/a:1' });
    mr.standin.state.faults.push({ method: 'POST', path: /^\/model_versions\/\d+\/artifacts$/, status: 503, times: 10 });
    const first = await runCli(['register'], e);
    assert.equal(first.code, EXIT.transient);
    mr.standin.state.faults.length = 0;
    const mf = await runCli(['mark-failed', '--failure-reason', 'register failed'], e);
    assert.equal(mf.code, 0, mf.stderr);
    const model = (await mr.client.findRegisteredModel('sentiment-archive'))!;
    const version = (await mr.client.findModelVersion('1.0.0', model.id))!;
    assert.equal(model.state, 'ARCHIVED');
    assert.equal(version.state, 'ARCHIVED');
    assert.match(mf.termination, new RegExp(`RegisteredModel ${model.id} \\(created by this job, now ARCHIVED\\), ModelVersion ${version.id} \\(created by this job, now ARCHIVED\\)`));
    const again = await runCli(['register'], env(await dir('ms-ws-'), metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/a:1' }));
    assert.equal(again.code, 0, again.stderr);
    const revived = (await mr.client.getRegisteredModel(model.id))!;
    assert.equal(revived.state, 'LIVE');
    assert.equal(revived.customProperties?.model_sync_failure_reason, undefined);
    assert.equal((await mr.client.getModelVersion(version.id))!.state, 'LIVE');
  });

  it('mark-failed archives a version whose create answer was lost, though the record never held it', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'lostversion'));
    // the version POST commits but its answer is lost; the retry gets 503, so register cannot look it up
    mr.standin.state.faults.push({ method: 'POST', path: '/model_versions', dropAfterCommit: true, times: 1 }, { method: 'POST', path: '/model_versions', status: 503, times: 1 });
    const e = env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/lv:1', MODEL_SYNC_RETRY_ATTEMPTS: '2' });
    const first = await runCli(['register'], e);
    assert.equal(first.code, EXIT.transient, first.stderr);
    const record = JSON.parse(await readFile(path.join(ws, '.model-sync/register.json'), 'utf8')) as { modelVersion?: unknown };
    assert.equal(record.modelVersion, undefined, 'the version was never recorded');
    const model = (await mr.client.findRegisteredModel('sentiment-lostversion'))!;
    const version = (await mr.client.findModelVersion('1.0.0', model.id))!;
    assert.equal(version.state, 'LIVE');
    const mf = await runCli(['mark-failed', '--failure-reason', 'register failed'], e);
    assert.equal(mf.code, 0, mf.stderr);
    assert.equal((await mr.client.getModelVersion(version.id))!.state, 'ARCHIVED');
    assert.equal((await mr.client.getRegisteredModel(model.id))!.state, 'ARCHIVED');
    assert.match(mf.termination, new RegExp(`ModelVersion ${version.id} \\(created by this job, now ARCHIVED\\)`));
  });

  it('mark-failed archives a model whose create answer was lost; another job\'s model of that name is left alone', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'lostmodel'));
    mr.standin.state.faults.push({ method: 'POST', path: '/registered_models', dropAfterCommit: true, times: 1 }, { method: 'POST', path: '/registered_models', status: 503, times: 1 });
    const e = env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/lm:1', MODEL_SYNC_RETRY_ATTEMPTS: '2' });
    assert.equal((await runCli(['register'], e)).code, EXIT.transient);
    const model = (await mr.client.findRegisteredModel('sentiment-lostmodel'))!;
    assert.equal((await runCli(['mark-failed'], e)).code, 0);
    assert.equal((await mr.client.getRegisteredModel(model.id))!.state, 'ARCHIVED');

    const other = await mr.client.createRegisteredModel({ name: 'sentiment-notours', owner: 'someone-else', state: 'LIVE' });
    const mf = await runCli(['mark-failed'], env(await dir('ms-ws-'), await meta(named(SAMPLE_CREATE_MODEL, 'notours')), 'create_model'));
    assert.equal(mf.code, 0, mf.stderr);
    assert.equal((await mr.client.getRegisteredModel(other.id))!.state, 'LIVE');
    assert.equal(mf.termination, 'no Model Registry entity was created');
  });

  it('mark-failed in a fresh workspace leaves a complete registration of this job LIVE', async () => {
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'complete'));
    const uri = { MODEL_SYNC_MODEL_URI: 'oci://r.example/done:1' };
    assert.equal((await runCli(['register'], env(await dir('ms-ws-'), metadata, 'create_model', uri))).code, 0);
    const mf = await runCli(['mark-failed', '--failure-reason', 'a later step failed'], env(await dir('ms-ws-'), metadata, 'create_model', uri));
    assert.equal(mf.code, 0, mf.stderr);
    const model = (await mr.client.findRegisteredModel('sentiment-complete'))!;
    const version = (await mr.client.findModelVersion('1.0.0', model.id))!;
    assert.equal(model.state, 'LIVE');
    assert.equal(version.state, 'LIVE');
    assert.equal((await artifactOf(version.id)).state, 'LIVE');
  });

  it('an artifact POST answered with id ../../x fails with exit 10 naming the call, not as a success', async () => {
    const ws = await dir('ms-ws-');
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'badid'));
    mr.standin.state.faults.push({ method: 'POST', path: /^\/model_versions\/\d+\/artifacts$/, body: { artifactType: 'model-artifact', id: '../../x', name: 'x' }, times: 1 });
    const reg = await runCli(['register'], env(ws, metadata, 'create_model', { MODEL_SYNC_MODEL_URI: 'oci://r.example/bi:1' }));
    assert.equal(reg.code, EXIT.transient, reg.stderr);
    assert.match(reg.termination, /^Model Registry POST \/api\/model_registry\/v1alpha3\/model_versions\/\d+\/artifacts: invalid answer \(HTTP 201\): not the Artifact shape: id "\.\.\/\.\.\/x" is not a usable id/);
    assert.doesNotMatch(await readFile(path.join(ws, '.model-sync/register.json'), 'utf8'), /\.\.\/\.\.\/x/, 'the bad id is not recorded');
  });

  it('mark-failed with nothing created says so', async () => {
    const metadata = await meta(named(SAMPLE_CREATE_MODEL, 'nothing'));
    const mf = await runCli(['mark-failed'], env(await dir('ms-ws-'), metadata, 'create_model'));
    assert.equal(mf.code, 0, mf.stderr);
    assert.equal(mf.termination, 'no Model Registry entity was created');
  });

  it('reads the token from the file named by --registry-user-token-envvar; 401 is an auth failure', async () => {
    const ws = await dir('ms-ws-');
    const tokenFile = path.join(ws, 'token');
    await writeFile(tokenFile, 'file-token-abcdef\n');
    const model = await mr.client.createRegisteredModel({ name: 'tok', state: 'LIVE' });
    mr.standin.state.requiredToken = 'file-token-abcdef';
    const metadata = await meta({ 'ModelVersion.name': '1.0.0' });
    try {
      const ok = await runCli(['preflight'], env(ws, metadata, 'create_version', { MODEL_SYNC_MODEL_ID: model.id, MODEL_SYNC_REGISTRY_USER_TOKEN_ENVVAR: 'MR_TOKEN_PATH', MR_TOKEN_PATH: tokenFile }));
      assert.equal(ok.code, 0, ok.stderr);
      const denied = await runCli(['preflight'], env(ws, metadata, 'create_version', { MODEL_SYNC_MODEL_ID: model.id, MODEL_SYNC_REGISTRY_USER_TOKEN: 'wrong-token-123' }));
      assert.equal(denied.code, EXIT.auth);
      assert.match(denied.termination, /HTTP 401/);
      assert.doesNotMatch(denied.stderr + denied.termination, /wrong-token-123/);
    } finally {
      delete mr.standin.state.requiredToken;
    }
  });
});
