// What the Model Registry UI backend (BFF, clients/ui/bff internal/repositories/model_transfer_jobs.go)
// creates for one transfer job, field for field: the metadata ConfigMap, the S3 source Secret, the
// .dockerconfigjson destination Secret and the Job, which runs our image with no command or args.
// Written from a UI payload the way the BFF derives each object, so the samples stay what it builds;
// names the BFF leaves to generateName get a fixed suffix here.
import { BFF_LABELS, PATHS, REGISTRY_NAME_PARAM, GENERATED_HEADER, imageRef } from './common.js';

type Obj = Record<string, unknown>;
export type Intent = 'create_model' | 'create_version' | 'update_artifact';

/** A typed custom property value as the UI sends it (Model Registry's MetadataValue form). */
type TypedValue = { metadataType: 'MetadataStringValue'; string_value: string };

/** The fields of the UI's ModelTransferJob payload that the BFF turns into objects (S3 -> OCI). */
export interface BffPayload {
  name: string;
  jobDisplayName: string;
  namespace: string;
  description?: string;
  source: { bucket: string; key: string; endpoint: string; region?: string; awsAccessKeyId: string; awsSecretAccessKey: string };
  destination: { uri: string; registry: string; username: string; password: string };
  uploadIntent: Intent;
  registeredModelName?: string;
  registeredModelId?: string;
  modelVersionId?: string;
  modelArtifactId?: string;
  modelVersionName?: string;
  versionDescription?: string;
  author?: string;
  sourceModelFormat?: string;
  sourceModelFormatVersion?: string;
  modelCustomProperties?: Record<string, TypedValue>;
  versionCustomProperties?: Record<string, TypedValue>;
}

/** The registry as the BFF knows it: its name (the label value) and its server address. */
export interface BffRegistry {
  name: string;
  serverAddress: string;
}

/** Fixed stand-ins for the BFF's uuid and generateName suffixes, per intent. */
interface Generated {
  jobId: string;
  suffix: string;
}

const string = (v: string): TypedValue => ({ metadataType: 'MetadataStringValue', string_value: v });

const SOURCE = {
  bucket: 'models',
  key: 'models/sentiment-analyzer/',
  endpoint: 'http://minio.minio.svc.cluster.local:9000',
  awsAccessKeyId: 'minioadmin',
  awsSecretAccessKey: 'minioadmin',
};
const DESTINATION = { registry: 'registry.example.com', username: 'user', password: 'password' };
export const BFF_REGISTRY: BffRegistry = {
  name: REGISTRY_NAME_PARAM.default,
  serverAddress: 'https://model-registry.kubeflow.svc.cluster.local:8443',
};

/** One payload per intent, as the UI's register forms send them. */
export const BFF_PAYLOADS: Record<Intent, { payload: BffPayload; generated: Generated }> = {
  create_model: {
    generated: { jobId: '6e0f6b8a-2d4c-4a51-9f1e-0c7b3a5d8e41', suffix: 'k7x2q' },
    payload: {
      name: 'sentiment-analyzer-upload',
      jobDisplayName: 'Sentiment analyzer upload',
      namespace: 'data-science',
      description: 'Sentiment analysis model.',
      source: SOURCE,
      destination: { ...DESTINATION, uri: 'registry.example.com/models/sentiment-analyzer:1.0.0' },
      uploadIntent: 'create_model',
      registeredModelName: 'sentiment-analyzer',
      modelVersionName: '1.0.0',
      versionDescription: 'Initial release',
      author: 'Jane Smith',
      sourceModelFormat: 'onnx',
      sourceModelFormatVersion: '1',
      // The catalog's register form: task labels on the model, License and Provider on the version.
      modelCustomProperties: { 'text-classification': string('') },
      versionCustomProperties: { License: string('apache-2.0'), Provider: string('IBM') },
    },
  },
  create_version: {
    generated: { jobId: 'b3d9c1e7-5a2f-4c86-8d0b-7e4f1a6c2b52', suffix: 'p4m9w' },
    payload: {
      name: 'sentiment-analyzer-v2-upload',
      jobDisplayName: 'Sentiment analyzer 2.0.0',
      namespace: 'data-science',
      source: { ...SOURCE, key: 'models/sentiment-analyzer-v2/' },
      destination: { ...DESTINATION, uri: 'registry.example.com/models/sentiment-analyzer:2.0.0' },
      // The UI sends the version description as the job's description unless it creates a model.
      description: 'Retrained on more reviews',
      uploadIntent: 'create_version',
      registeredModelName: 'sentiment-analyzer',
      registeredModelId: '1',
      modelVersionName: '2.0.0',
      versionDescription: 'Retrained on more reviews',
      author: 'John Doe',
      sourceModelFormat: 'onnx',
      sourceModelFormatVersion: '1',
      versionCustomProperties: { License: string('apache-2.0'), Provider: string('IBM') },
    },
  },
  update_artifact: {
    generated: { jobId: '0a7c4e2d-9b1f-4e35-a6d8-3c5b7f9e1d63', suffix: 'r2t8v' },
    payload: {
      name: 'sentiment-analyzer-artifact-upload',
      jobDisplayName: 'Sentiment analyzer artifact',
      namespace: 'data-science',
      source: SOURCE,
      destination: { ...DESTINATION, uri: 'registry.example.com/models/sentiment-analyzer:1.0.1' },
      uploadIntent: 'update_artifact',
      registeredModelId: '1',
      modelVersionId: '3',
      modelArtifactId: '6',
      author: 'Jane Smith',
      // No version name: the BFF still writes ModelVersion.name and ModelArtifact.name, empty.
    },
  },
};

export const BFF_HEADER =
  GENERATED_HEADER +
  '# Reproduces what the Model Registry UI creates for one transfer job (its backend, clients/ui/bff,\n' +
  '# model_transfer_jobs.go): the metadata ConfigMap, the source and destination Secrets and the Job,\n' +
  '# field for field, with our image. The UI sets no command or args: the image runs `all` (CMD).\n' +
  '# Not a sample to adapt (see samples/job/ for that): test/bff-jobs.test.ts runs it as a pod would.\n';

/** Sorted keys: the API server's YAML, and Go's json.Marshal of a map, both sort them. */
function sorted<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Go's json.Marshal of a map: compact, keys sorted at every level. */
function goJson(value: unknown): string {
  const walk = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v) ? sorted(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))) : v;
  return JSON.stringify(walk(value));
}

function objectLabels(jobId: string): Record<string, string> {
  return sorted({ [BFF_LABELS.jobType]: 'async-upload', [BFF_LABELS.jobId]: jobId });
}

function names(p: BffPayload, g: Generated): { configMap: string; source: string; destination: string } {
  return {
    configMap: `${p.name}-metadata-configmap-${g.suffix}`,
    source: `${p.name}-source-creds-${g.suffix}`,
    destination: `${p.name}-dest-creds-${g.suffix}`,
  };
}

export function bffConfigMap(p: BffPayload, g: Generated): Obj {
  const data: Record<string, string> = {
    // Written for every intent; the artifact is named after the version.
    'ModelVersion.name': p.modelVersionName ?? '',
    'ModelVersion.author': p.author ?? '',
    'ModelArtifact.name': p.modelVersionName ?? '',
  };
  if (p.versionDescription) {
    data['ModelVersion.description'] = p.versionDescription;
    data['ModelArtifact.description'] = p.versionDescription;
  }
  if (p.sourceModelFormat) data['ModelArtifact.model_format_name'] = p.sourceModelFormat;
  if (p.sourceModelFormatVersion) data['ModelArtifact.model_format_version'] = p.sourceModelFormatVersion;
  if (p.modelCustomProperties && Object.keys(p.modelCustomProperties).length) data['RegisteredModel.customProperties'] = goJson(p.modelCustomProperties);
  if (p.versionCustomProperties && Object.keys(p.versionCustomProperties).length) {
    data['ModelVersion.customProperties'] = goJson(p.versionCustomProperties);
    data['ModelArtifact.customProperties'] = goJson(p.versionCustomProperties);
  }
  if (p.uploadIntent === 'create_model') {
    data['RegisteredModel.name'] = p.registeredModelName ?? '';
    data['RegisteredModel.description'] = p.description ?? '';
    data['RegisteredModel.owner'] = p.author ?? '';
  } else {
    data['RegisteredModel.id'] = p.registeredModelId ?? '';
    if (p.uploadIntent === 'update_artifact') {
      data['ModelVersion.id'] = p.modelVersionId ?? '';
      data['ModelArtifact.id'] = p.modelArtifactId ?? '';
    }
  }
  data['ModelArtifact.model_source_kind'] = 'transfer_job';
  data['ModelArtifact.model_source_class'] = 'async-upload';
  data['ModelArtifact.model_source_group'] = p.namespace;
  data['ModelArtifact.model_source_name'] = p.name;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names(p, g).configMap, namespace: p.namespace, labels: objectLabels(g.jobId) },
    data: sorted(data),
  };
}

export function bffSourceSecret(p: BffPayload, g: Generated): Obj {
  const stringData: Record<string, string> = {
    AWS_ACCESS_KEY_ID: p.source.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: p.source.awsSecretAccessKey,
    AWS_S3_ENDPOINT: p.source.endpoint,
    AWS_S3_BUCKET: p.source.bucket,
    ...(p.source.region ? { AWS_DEFAULT_REGION: p.source.region } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: names(p, g).source, namespace: p.namespace, labels: objectLabels(g.jobId) },
    type: 'Opaque',
    stringData: sorted(stringData),
  };
}

/** The registry host of an image reference: what comes before the first slash. */
export function registryOfUri(uri: string): string {
  return uri.split('/')[0] ?? '';
}

/** `{"auths":{"<registry>":{"auth":"<base64 user:pass>"}}}`, the registry defaulting to the URI's host. */
export function bffDockerConfig(destination: BffPayload['destination']): string {
  const registry = destination.registry || registryOfUri(destination.uri);
  const auth = Buffer.from(`${destination.username}:${destination.password}`).toString('base64');
  return JSON.stringify({ auths: { [registry]: { auth } } });
}

export function bffDestinationSecret(p: BffPayload, g: Generated): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: names(p, g).destination, namespace: p.namespace, labels: objectLabels(g.jobId) },
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': bffDockerConfig(p.destination) },
  };
}

/** The env the BFF derives from the registry's address: scheme://host, the port (else 443/80), https or not. */
export function bffRegistryEnv(serverAddress: string): { address: string; port: string; isSecure: string } {
  const u = new URL(serverAddress);
  const secure = u.protocol === 'https:';
  return { address: `${u.protocol}//${u.hostname}`, port: u.port || (secure ? '443' : '80'), isSecure: String(secure) };
}

export function bffJob(p: BffPayload, g: Generated, registry: BffRegistry): Obj {
  const n = names(p, g);
  const r = bffRegistryEnv(registry.serverAddress);
  const env: Obj[] = [
    { name: 'MODEL_SYNC_SOURCE_TYPE', value: 's3' },
    { name: 'MODEL_SYNC_DESTINATION_TYPE', value: 'oci' },
    { name: 'MODEL_SYNC_DESTINATION_OCI_URI', value: p.destination.uri },
    { name: 'MODEL_SYNC_DESTINATION_OCI_REGISTRY', value: p.destination.registry || registryOfUri(p.destination.uri) },
    { name: 'MODEL_SYNC_DESTINATION_OCI_CREDENTIALS_PATH', value: `${PATHS.destinationCredentials}/.dockerconfigjson` },
    { name: 'MODEL_SYNC_REGISTRY_SERVER_ADDRESS', value: r.address },
    { name: 'MODEL_SYNC_REGISTRY_PORT', value: r.port },
    { name: 'MODEL_SYNC_REGISTRY_IS_SECURE', value: r.isSecure },
    { name: 'MODEL_SYNC_METADATA_CONFIGMAP_PATH', value: PATHS.metadata },
    { name: 'MODEL_SYNC_MODEL_UPLOAD_INTENT', value: p.uploadIntent },
    ...(p.uploadIntent === 'create_version' && p.registeredModelId ? [{ name: 'MODEL_SYNC_MODEL_ID', value: p.registeredModelId }] : []),
    // (quay.io destinations also get MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE=quay.io/quay/busybox:latest)
    { name: 'MODEL_SYNC_SOURCE_AWS_KEY', value: p.source.key },
    { name: 'MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH', value: PATHS.sourceCredentials },
  ];
  const annotations: Record<string, string> = {
    'modelregistry.kubeflow.org/display-name': p.jobDisplayName,
    'modelregistry.kubeflow.org/source-type': 's3',
    'modelregistry.kubeflow.org/dest-type': 'oci',
    'modelregistry.kubeflow.org/dest-uri': p.destination.uri,
    'modelregistry.kubeflow.org/dest-registry': p.destination.registry || registryOfUri(p.destination.uri),
    'modelregistry.kubeflow.org/upload-intent': p.uploadIntent,
    'modelregistry.kubeflow.org/model-name': p.registeredModelName ?? '',
    'modelregistry.kubeflow.org/version-name': p.modelVersionName ?? '',
    'modelregistry.kubeflow.org/artifact-name': p.modelVersionName ?? '',
    'modelregistry.kubeflow.org/description': p.description ?? '',
    'modelregistry.kubeflow.org/author': p.author ?? '',
    'modelregistry.kubeflow.org/configmap-name': n.configMap,
    'modelregistry.kubeflow.org/dest-secret': n.destination,
    'modelregistry.kubeflow.org/registered-model-id': p.registeredModelId ?? '',
    'modelregistry.kubeflow.org/model-version-id': p.modelVersionId ?? '',
    'modelregistry.kubeflow.org/model-artifact-id': p.modelArtifactId ?? '',
    'modelregistry.kubeflow.org/source-bucket': p.source.bucket,
    'modelregistry.kubeflow.org/source-key': p.source.key,
    'modelregistry.kubeflow.org/source-secret': n.source,
    'modelregistry.kubeflow.org/model-registry-name': registry.name,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: sorted({ [BFF_LABELS.jobType]: 'async-upload', [BFF_LABELS.jobId]: g.jobId, [BFF_LABELS.registryName]: registry.name }),
      annotations: sorted(annotations),
    },
    spec: {
      backoffLimit: 3,
      template: {
        // Only job-type on the pod; the UI finds pods through the Job's job-name label.
        metadata: { labels: { [BFF_LABELS.jobType]: 'async-upload' } },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true },
          volumes: [
            { name: 'destination-credentials', secret: { secretName: n.destination, items: [{ key: '.dockerconfigjson', path: '.dockerconfigjson' }] } },
            { name: 'model-metadata', configMap: { name: n.configMap } },
            { name: 'source-credentials', secret: { secretName: n.source } },
          ],
          containers: [
            {
              name: 'async-upload',
              image: imageRef(),
              imagePullPolicy: 'IfNotPresent',
              volumeMounts: [
                { name: 'destination-credentials', mountPath: PATHS.destinationCredentials, readOnly: true },
                { name: 'model-metadata', mountPath: PATHS.metadata, readOnly: true },
                { name: 'source-credentials', mountPath: PATHS.sourceCredentials, readOnly: true },
              ],
              env,
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
            },
          ],
        },
      },
    },
  };
}

/** ConfigMap, Secrets and Job of one intent, in the order the BFF creates them. */
export function bffSample(intent: Intent): Obj[] {
  const { payload, generated } = BFF_PAYLOADS[intent];
  return [bffConfigMap(payload, generated), bffSourceSecret(payload, generated), bffDestinationSecret(payload, generated), bffJob(payload, generated, BFF_REGISTRY)];
}
