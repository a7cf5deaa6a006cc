// The Model Registry UI's transfer jobs, run as the cluster would run them. samples/bff/ holds, per
// upload intent, the ConfigMap, Secrets and Job the UI backend (BFF) creates; these tests check that
// they are what the BFF builds, then start each Job's pod locally: volumes laid out as the kubelet
// mounts them (ConfigMap and Secret folders with ..data links), the command from the Dockerfile's
// ENTRYPOINT + CMD (the Job sets neither command nor args), the built CLI in place of `model-sync`,
// and the endpoints pointed at a local S3 server, OCI registry and Model Registry stand-in.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { CLI, REPO_ROOT, tempDir } from '../dev/cli.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startRegistry, type TestRegistry } from '../dev/registry.js';
import { S3RVER_KEY, S3RVER_SECRET, startS3Server, type S3Server } from '../dev/s3-server.js';
import { bffDockerConfig, bffRegistryEnv, type Intent } from '../scripts/lib/templates/bff.js';
import { imageRef } from '../scripts/lib/templates/common.js';
import { parseAll } from './support/template-schemas.js';
import { runJob, type JobRun } from './support/template-runner.js';
import { missingTools } from './support/requirements.js';

const run = promisify(execFile);
type Obj = Record<string, any>;

const INTENTS: Intent[] = ['create_model', 'create_version', 'update_artifact'];
const sampleFile = (intent: Intent) => `samples/bff/${intent.replace('_', '-')}.yaml`;
const loadSample = (intent: Intent) => parseAll(readFileSync(path.join(REPO_ROOT, sampleFile(intent)), 'utf8'), sampleFile(intent)) as Obj[];
const ofKind = (docs: Obj[], kind: string, type?: string) => docs.filter((d) => d.kind === kind && (!type || d.type === type));

/** The image's ENTRYPOINT and CMD, from the runtime stage (the last one) of the Dockerfile. */
function imageCommand(): { entrypoint: string[]; cmd: string[] } {
  const text = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const runtime = text.split(/^FROM /m).pop()!;
  const last = (keyword: string) => {
    const all = [...runtime.matchAll(new RegExp(`^${keyword}\\s+(\\[.*\\])\\s*$`, 'gm'))];
    assert.ok(all.length, `Dockerfile runtime stage has an exec-form ${keyword}`);
    return JSON.parse(all[all.length - 1]![1]!) as string[];
  };
  return { entrypoint: last('ENTRYPOINT'), cmd: last('CMD') };
}

const typed = (v: string) => ({ metadataType: 'MetadataStringValue', string_value: v });

// ---------------------------------------------------------------------------------------------
// The samples are what the BFF builds (buildK8sJob, buildModelMetadataConfigMap, build*Secret)

const ENV_ORDER = [
  'MODEL_SYNC_SOURCE_TYPE',
  'MODEL_SYNC_DESTINATION_TYPE',
  'MODEL_SYNC_DESTINATION_OCI_URI',
  'MODEL_SYNC_DESTINATION_OCI_REGISTRY',
  'MODEL_SYNC_DESTINATION_OCI_CREDENTIALS_PATH',
  'MODEL_SYNC_REGISTRY_SERVER_ADDRESS',
  'MODEL_SYNC_REGISTRY_PORT',
  'MODEL_SYNC_REGISTRY_IS_SECURE',
  'MODEL_SYNC_METADATA_CONFIGMAP_PATH',
  'MODEL_SYNC_MODEL_UPLOAD_INTENT',
];
const COMMON_KEYS = [
  'ModelVersion.name',
  'ModelVersion.author',
  'ModelArtifact.name',
  'ModelArtifact.model_source_kind',
  'ModelArtifact.model_source_class',
  'ModelArtifact.model_source_group',
  'ModelArtifact.model_source_name',
];
const VERSION_KEYS = ['ModelVersion.description', 'ModelArtifact.description', 'ModelArtifact.model_format_name', 'ModelArtifact.model_format_version', 'ModelVersion.customProperties', 'ModelArtifact.customProperties'];
const CONFIGMAP_KEYS: Record<Intent, string[]> = {
  create_model: [...COMMON_KEYS, ...VERSION_KEYS, 'RegisteredModel.customProperties', 'RegisteredModel.name', 'RegisteredModel.description', 'RegisteredModel.owner'],
  create_version: [...COMMON_KEYS, ...VERSION_KEYS, 'RegisteredModel.id'],
  update_artifact: [...COMMON_KEYS, 'RegisteredModel.id', 'ModelVersion.id', 'ModelArtifact.id'],
};

describe('samples/bff: the objects the Model Registry UI creates', () => {
  for (const intent of INTENTS) {
    test(`${intent}: Job, ConfigMap and Secrets as buildK8sJob / buildModelMetadataConfigMap / build*Secret write them`, () => {
      const docs = loadSample(intent);
      assert.match(readFileSync(path.join(REPO_ROOT, sampleFile(intent)), 'utf8'), /Reproduces what the Model Registry UI creates/);
      assert.deepEqual(docs.map((d) => d.kind), ['ConfigMap', 'Secret', 'Secret', 'Job']);
      const [cm] = ofKind(docs, 'ConfigMap');
      const [source] = ofKind(docs, 'Secret', 'Opaque');
      const [destination] = ofKind(docs, 'Secret', 'kubernetes.io/dockerconfigjson');
      const [job] = ofKind(docs, 'Job');
      assert.ok(cm && source && destination && job);
      const jobId = job.metadata.labels['modelregistry.kubeflow.org/job-id'];
      assert.match(jobId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

      // Labels: the UI lists Jobs by job-type + model-registry-name; only job-type on the pod.
      assert.deepEqual(job.metadata.labels, { 'modelregistry.kubeflow.org/job-id': jobId, 'modelregistry.kubeflow.org/job-type': 'async-upload', 'modelregistry.kubeflow.org/model-registry-name': 'model-registry' });
      assert.deepEqual(job.spec.template.metadata.labels, { 'modelregistry.kubeflow.org/job-type': 'async-upload' });
      for (const o of [cm, source, destination]) assert.deepEqual(o.metadata.labels, { 'modelregistry.kubeflow.org/job-id': jobId, 'modelregistry.kubeflow.org/job-type': 'async-upload' });
      assert.equal(job.metadata.annotations['modelregistry.kubeflow.org/configmap-name'], cm.metadata.name);
      assert.equal(job.metadata.annotations['modelregistry.kubeflow.org/dest-secret'], destination.metadata.name);
      assert.equal(job.metadata.annotations['modelregistry.kubeflow.org/source-secret'], source.metadata.name);
      assert.equal(job.metadata.annotations['modelregistry.kubeflow.org/upload-intent'], intent);

      // The pod: no command or args, our image, the BFF's mounts and security settings, no service-link setting.
      assert.equal(job.spec.backoffLimit, 3);
      const pod = job.spec.template.spec;
      assert.equal(pod.restartPolicy, 'Never');
      assert.deepEqual(pod.securityContext, { runAsNonRoot: true });
      assert.equal(pod.enableServiceLinks, undefined, 'the BFF does not set it');
      assert.equal(pod.containers.length, 1);
      const c = pod.containers[0];
      assert.equal(c.name, 'async-upload');
      assert.equal(c.image, imageRef());
      assert.equal(c.imagePullPolicy, 'IfNotPresent');
      assert.equal(c.command, undefined);
      assert.equal(c.args, undefined);
      assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
      const volumes = new Map<string, Obj>(pod.volumes.map((v: Obj) => [v.name, v]));
      assert.deepEqual(
        c.volumeMounts.map((m: Obj) => [m.mountPath, m.readOnly, volumes.get(m.name)?.secret?.secretName ?? volumes.get(m.name)?.configMap?.name]),
        [
          ['/opt/creds/destination', true, destination.metadata.name],
          ['/etc/model-metadata', true, cm.metadata.name],
          ['/opt/creds/source', true, source.metadata.name],
        ],
      );
      assert.deepEqual(volumes.get('destination-credentials')!.secret.items, [{ key: '.dockerconfigjson', path: '.dockerconfigjson' }]);

      // Env exactly as the BFF sets it; the ids only in the ConfigMap (MODEL_ID for create_version too).
      const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value]));
      assert.deepEqual(
        (c.env as Obj[]).map((e) => e.name),
        [...ENV_ORDER, ...(intent === 'create_version' ? ['MODEL_SYNC_MODEL_ID'] : []), 'MODEL_SYNC_SOURCE_AWS_KEY', 'MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH'],
      );
      assert.ok((c.env as Obj[]).every((e) => typeof e.value === 'string' && !e.valueFrom), 'plain values, no token');
      assert.equal(env.MODEL_SYNC_SOURCE_TYPE, 's3');
      assert.equal(env.MODEL_SYNC_DESTINATION_TYPE, 'oci');
      assert.equal(env.MODEL_SYNC_DESTINATION_OCI_REGISTRY, env.MODEL_SYNC_DESTINATION_OCI_URI.split('/')[0]);
      assert.equal(env.MODEL_SYNC_DESTINATION_OCI_CREDENTIALS_PATH, '/opt/creds/destination/.dockerconfigjson');
      assert.match(env.MODEL_SYNC_REGISTRY_SERVER_ADDRESS, /^https?:\/\/[^:/]+$/, 'origin only, the port apart');
      assert.match(env.MODEL_SYNC_REGISTRY_PORT, /^\d+$/);
      assert.equal(env.MODEL_SYNC_REGISTRY_IS_SECURE, String(env.MODEL_SYNC_REGISTRY_SERVER_ADDRESS.startsWith('https:')));
      assert.equal(env.MODEL_SYNC_METADATA_CONFIGMAP_PATH, '/etc/model-metadata');
      assert.equal(env.MODEL_SYNC_MODEL_UPLOAD_INTENT, intent);
      assert.equal(env.MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH, '/opt/creds/source');
      if (intent === 'create_version') assert.equal(env.MODEL_SYNC_MODEL_ID, cm.data['RegisteredModel.id']);

      // ConfigMap keys exactly as buildModelMetadataConfigMap writes them.
      const data = cm.data as Record<string, string>;
      assert.deepEqual(Object.keys(data).sort(), [...CONFIGMAP_KEYS[intent]].sort());
      assert.equal(data['ModelArtifact.name'], data['ModelVersion.name'], 'the artifact is named after the version');
      assert.equal(data['ModelArtifact.model_source_kind'], 'transfer_job');
      assert.equal(data['ModelArtifact.model_source_class'], 'async-upload');
      assert.equal(data['ModelArtifact.model_source_group'], job.metadata.namespace);
      assert.equal(data['ModelArtifact.model_source_name'], job.metadata.name);
      if (intent === 'update_artifact') {
        assert.equal(data['ModelVersion.name'], '', 'the payload has no version name: the BFF writes it empty');
        assert.equal(data['ModelArtifact.name'], '');
      } else {
        assert.equal(data['ModelArtifact.description'], data['ModelVersion.description']);
        const props = JSON.stringify({ License: typed('apache-2.0'), Provider: typed('IBM') });
        assert.equal(data['ModelVersion.customProperties'], props, 'typed, compact, as Go marshals it');
        assert.equal(data['ModelArtifact.customProperties'], props);
      }
      if (intent === 'create_model') assert.equal(data['RegisteredModel.owner'], data['ModelVersion.author']);

      // Secrets.
      assert.deepEqual(Object.keys(source.stringData).sort(), ['AWS_ACCESS_KEY_ID', 'AWS_S3_BUCKET', 'AWS_S3_ENDPOINT', 'AWS_SECRET_ACCESS_KEY']);
      const docker = JSON.parse(destination.stringData['.dockerconfigjson']) as { auths: Record<string, { auth: string }> };
      assert.deepEqual(Object.keys(docker.auths), [env.MODEL_SYNC_DESTINATION_OCI_REGISTRY]);
      assert.match(Buffer.from(docker.auths[env.MODEL_SYNC_DESTINATION_OCI_REGISTRY]!.auth, 'base64').toString(), /^[^:]+:.+$/);
      assert.deepEqual(Object.keys(docker), ['auths']);
    });
  }

  test('the image command for such a pod is ENTRYPOINT + CMD: model-sync all', () => {
    const { entrypoint, cmd } = imageCommand();
    assert.deepEqual([...entrypoint, ...cmd], ['model-sync', 'all']);
  });
});

// ---------------------------------------------------------------------------------------------
// Each Job run through `all` against local servers

function missing(): string | false {
  if (!existsSync(CLI)) return 'build first: npm run build';
  return missingTools('registry', 'skopeo', 'busybox', 'htpasswd');
}

describe('samples/bff: each Job runs `all` with no command or args and lands the model', { skip: missing() }, () => {
  let root: string;
  let s3: S3Server;
  let registry: TestRegistry;
  let standin: Standin;
  let api: string;
  const model = {
    'config.json': '{"model_type": "tiny"}',
    'weights/model.onnx': Buffer.alloc(200_000, 3),
  };

  before(async () => {
    root = await tempDir('ms-bff-jobs-');
    // The destination asks for Basic auth, so the pushed modelcar proves the .dockerconfigjson Secret is used.
    [s3, registry, standin] = await Promise.all([startS3Server('models'), startRegistry({ mode: 'htpasswd' }), startStandin()]);
    api = `${standin.url.replace(/\/$/, '')}/api/model_registry/v1alpha3`;
    for (const prefix of ['models/sentiment-analyzer/', 'models/sentiment-analyzer-v2/']) {
      for (const [name, body] of Object.entries(model)) await s3.put(prefix + name, body);
    }
    const base = await buildBusyboxBase(path.join(root, 'busybox-base'));
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${REGISTRY_USER}:${REGISTRY_PASSWORD}`, `oci:${base.dir}:latest`, `docker://${registry.host}/library/busybox:latest`]);
  });
  after(async () => {
    await Promise.all([s3?.stop(), registry?.stop(), standin?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function call(method: string, rel: string, body?: unknown): Promise<Obj> {
    const res = await fetch(`${api}${rel}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.ok(res.ok, `${method} ${rel}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as Obj;
  }

  function setEnv(job: Obj, name: string, value: string): void {
    const e = (job.spec.template.spec.containers[0].env as Obj[]).find((x) => x.name === name);
    assert.ok(e, `the Job sets ${name}`);
    e.value = value;
  }

  /**
   * The sample's objects with the endpoints (and, where the intent needs existing entities, the ids)
   * of this machine, set where the BFF would have put them for a registry at that address.
   */
  function localise(intent: Intent, ids: Record<string, string>): { objects: Obj[]; job: Obj; uri: string } {
    const docs = structuredClone(loadSample(intent));
    const [cm] = ofKind(docs, 'ConfigMap');
    const [source] = ofKind(docs, 'Secret', 'Opaque');
    const [destination] = ofKind(docs, 'Secret', 'kubernetes.io/dockerconfigjson');
    const [job] = ofKind(docs, 'Job');
    Object.assign(source!.stringData, { AWS_ACCESS_KEY_ID: S3RVER_KEY, AWS_SECRET_ACCESS_KEY: S3RVER_SECRET, AWS_S3_ENDPOINT: s3.endpoint, AWS_S3_BUCKET: s3.bucket });
    const sampleUri = (job!.spec.template.spec.containers[0].env as Obj[]).find((e) => e.name === 'MODEL_SYNC_DESTINATION_OCI_URI')!.value as string;
    const uri = `${registry.host}/${sampleUri.split('/').slice(1).join('/')}`;
    destination!.stringData['.dockerconfigjson'] = bffDockerConfig({ uri, registry: registry.host, username: REGISTRY_USER, password: REGISTRY_PASSWORD });
    setEnv(job!, 'MODEL_SYNC_DESTINATION_OCI_URI', uri);
    setEnv(job!, 'MODEL_SYNC_DESTINATION_OCI_REGISTRY', registry.host);
    const r = bffRegistryEnv(standin.url);
    setEnv(job!, 'MODEL_SYNC_REGISTRY_SERVER_ADDRESS', r.address);
    setEnv(job!, 'MODEL_SYNC_REGISTRY_PORT', r.port);
    setEnv(job!, 'MODEL_SYNC_REGISTRY_IS_SECURE', r.isSecure);
    for (const [key, id] of Object.entries(ids)) {
      assert.ok(key in cm!.data, `ConfigMap key ${key}`);
      cm!.data[key] = id;
    }
    if (ids['RegisteredModel.id'] && intent === 'create_version') setEnv(job!, 'MODEL_SYNC_MODEL_ID', ids['RegisteredModel.id']);
    return { objects: [cm!, source!, destination!], job: job!, uri };
  }

  async function runLocalised(intent: Intent, ids: Record<string, string> = {}): Promise<{ result: JobRun; uri: string; cm: Obj }> {
    const { objects, job, uri } = localise(intent, ids);
    const storage = path.join(await tempDir('ms-bff-storage-'), 'model-sync');
    const result = await runJob(
      { job, image: imageCommand() },
      {
        root,
        objects,
        // Not in the Job, so given here, and only these two: storage-path's default /tmp/model-sync lies in
        // the container's own filesystem (a temp folder here), and the default base image is on the internet
        // (the BFF sets one only for quay.io), so the modelcar builds on the local registry's busybox.
        env: { MODEL_SYNC_STORAGE_PATH: storage, MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${registry.host}/library/busybox:latest` },
        timeoutMs: 90_000,
      },
    );
    await rm(path.dirname(storage), { recursive: true, force: true });
    assert.deepEqual(result.argv, ['model-sync', 'all'], 'ENTRYPOINT + CMD: no command or args in the Job');
    // The volumes as the kubelet mounts them: ..data links to the timestamped folder, per-key links into ..data.
    const metadataDir = result.mounts['/etc/model-metadata']!;
    assert.equal(await readlink(path.join(metadataDir, 'ModelVersion.name')), path.join('..data', 'ModelVersion.name'));
    assert.ok((await lstat(path.join(metadataDir, '..data'))).isSymbolicLink());
    assert.equal(await readlink(path.join(result.mounts['/opt/creds/destination']!, '.dockerconfigjson')), path.join('..data', '.dockerconfigjson'));
    assert.equal(result.env.MODEL_SYNC_METADATA_CONFIGMAP_PATH, metadataDir, 'mount paths in env point at the pod folders');
    return { result, uri, cm: objects[0]! };
  }

  function describeRun(r: JobRun): string {
    return `exit ${r.exitCode}: ${r.termination || r.stderr.split('\n').filter(Boolean).slice(-3).join(' | ')}`;
  }

  /** The termination message: upstream's JSON (indent 2), whose ids the UI reads. */
  function termination(r: JobRun, intent: Intent): Obj {
    const message = JSON.parse(r.termination) as Obj;
    assert.equal(message.intent, intent);
    assert.equal(r.termination, JSON.stringify(message, null, 2), 'upstream writes json.dumps(indent=2)');
    return message;
  }

  async function assertLive(artifactId: string, uri: string): Promise<Obj> {
    const artifact = await call('GET', `/model_artifacts/${artifactId}`);
    assert.equal(artifact.state, 'LIVE');
    assert.equal(artifact.uri, `oci://${uri}`);
    const manifest = await fetch(`${registry.url}/v2/${uri.split('/').slice(1).join('/').replace(/:([^:]+)$/, '/manifests/$1')}`, {
      method: 'HEAD',
      headers: { authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`, accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(manifest.status, 200, 'the modelcar is in the registry');
    return artifact;
  }

  test('create_model: registers model, version and artifact with the typed custom properties as given', async () => {
    const { result, uri, cm } = await runLocalised('create_model');
    assert.equal(result.exitCode, 0, describeRun(result));
    const message = termination(result, 'create_model');
    const model = await call('GET', `/registered_models/${message.RegisteredModel.id}`);
    assert.equal(model.name, cm.data['RegisteredModel.name']);
    assert.equal(model.owner, cm.data['RegisteredModel.owner']);
    assert.deepEqual(model.customProperties?.['text-classification'], typed(''), 'a typed value stored as given');
    const version = await call('GET', `/model_versions/${message.ModelVersion.id}`);
    assert.equal(version.name, '1.0.0');
    assert.equal(version.registeredModelId, model.id);
    assert.equal(version.author, 'Jane Smith');
    assert.deepEqual(version.customProperties?.License, typed('apache-2.0'));
    assert.deepEqual(version.customProperties?.Provider, typed('IBM'));
    const artifact = await assertLive(message.ModelArtifact.id, uri);
    assert.equal(artifact.name, '1.0.0', 'named after the version, as the BFF writes it');
    assert.equal(artifact.modelFormatName, 'onnx');
    assert.equal(artifact.modelSourceKind, 'transfer_job');
    assert.equal(artifact.modelSourceName, cm.data['ModelArtifact.model_source_name']);
    assert.deepEqual(artifact.customProperties?.License, typed('apache-2.0'));
    assert.deepEqual(artifact.customProperties?.Provider, typed('IBM'));
  });

  test('create_version: adds a version to the model named by RegisteredModel.id, with the typed custom properties as given', async () => {
    const existing = await call('POST', '/registered_models', { name: 'bff-existing-model', state: 'LIVE' });
    const { result, uri } = await runLocalised('create_version', { 'RegisteredModel.id': String(existing.id) });
    assert.equal(result.exitCode, 0, describeRun(result));
    const message = termination(result, 'create_version');
    assert.equal(message.RegisteredModel.id, existing.id);
    const version = await call('GET', `/model_versions/${message.ModelVersion.id}`);
    assert.equal(version.name, '2.0.0');
    assert.equal(version.registeredModelId, existing.id);
    assert.deepEqual(version.customProperties?.License, typed('apache-2.0'));
    assert.deepEqual(version.customProperties?.Provider, typed('IBM'));
    const artifact = await assertLive(message.ModelArtifact.id, uri);
    assert.equal(artifact.name, '2.0.0');
    assert.deepEqual(artifact.customProperties?.License, typed('apache-2.0'));
  });

  test('update_artifact: the ids come from the ConfigMap only; the artifact becomes LIVE with the oci:// URI', async () => {
    const m = await call('POST', '/registered_models', { name: 'bff-update-model', state: 'LIVE' });
    const v = await call('POST', '/model_versions', { name: 'v1', registeredModelId: m.id, state: 'LIVE' });
    const a = await call('POST', `/model_versions/${v.id}/artifacts`, { artifactType: 'model-artifact', name: 'v1', uri: 'PLACEHOLDER', state: 'PENDING' });
    const { result, uri } = await runLocalised('update_artifact', { 'RegisteredModel.id': String(m.id), 'ModelVersion.id': String(v.id), 'ModelArtifact.id': String(a.id) });
    assert.equal(result.exitCode, 0, describeRun(result));
    assert.equal(result.env.MODEL_SYNC_MODEL_ARTIFACT_ID, undefined, 'no artifact id in the env');
    const message = termination(result, 'update_artifact');
    assert.equal(message.ModelArtifact.id, a.id);
    if (message.RegisteredModel) assert.equal(message.RegisteredModel.id, m.id);
    if (message.ModelVersion) assert.equal(message.ModelVersion.id, v.id);
    const artifact = await assertLive(a.id, uri);
    assert.equal(artifact.name, 'v1', 'the empty ModelArtifact.name leaves the name alone');
    const version = await call('GET', `/model_versions/${v.id}`);
    assert.equal(version.name, 'v1');
  });
});
