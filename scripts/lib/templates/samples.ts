// Samples users apply as they are (after changing names and addresses): the Secrets and metadata
// ConfigMaps, an all-in-one Job per upload intent, four Argo Workflows (workflowTemplateRef, its
// one-pod and scale-out entrypoints, and templateRef) and Tekton PipelineRuns (per step, one pod,
// scale-out) and a TaskRun per Task (the catalog folders' samples/).
import {
  COMMAND,
  ENABLE_SERVICE_LINKS,
  NO_SIDECAR_ANNOTATIONS,
  ID_LABELS,
  NON_RETRYABLE_EXIT_CODES,
  OBJECT_PARAMS,
  sourceSecretEnv,
  PATHS,
  TEKTON_POD_TEMPLATE,
  TERMINATION_GRACE_PERIOD_SECONDS,
  VOLUMES,
  WORKSPACE_CLAIM,
  WORKSPACE_SIZE,
  ONE_POD_WORKSPACE_SIZE,
  SCALE_OUT_WORKSPACE_SIZE,
  REGISTRY_NAME_PARAM,
  containerSecurityContext,
  imageRef,
  podSecurityContext,
  resources,
  uiLabels,
} from './common.js';
import { ARGO_NAME, ONE_POD_ENTRYPOINT, SCALE_OUT_ENTRYPOINT } from './argo.js';
import type { StepName } from '../../../src/contract/contract.js';
import { ONE_POD_PIPELINE_NAME, PART_WORKSPACE, PIPELINE_NAME, SCALE_OUT_PIPELINE_NAME, taskName, taskParamNames, taskWorkspaces } from './tekton.js';

type Obj = Record<string, unknown>;

const REGISTRY_HOST = 'registry.example.com';
const MODEL_REGISTRY = 'https://model-registry-service.kubeflow.svc.cluster.local';

export function secrets(): Obj[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: OBJECT_PARAMS.source.default },
      type: 'Opaque',
      // Upstream's S3 folder keys; the key (prefix) of the model is a parameter, never in the Secret.
      stringData: {
        AWS_ACCESS_KEY_ID: 'minioadmin',
        AWS_SECRET_ACCESS_KEY: 'minioadmin',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_S3_ENDPOINT: 'http://minio.minio.svc.cluster.local:9000',
        AWS_S3_BUCKET: 'models',
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: OBJECT_PARAMS.destination.default },
      type: 'kubernetes.io/dockerconfigjson',
      stringData: {
        '.dockerconfigjson': JSON.stringify({ auths: { [REGISTRY_HOST]: { auth: 'dXNlcjpwYXNzd29yZA==' } } }),
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: OBJECT_PARAMS.registry.default },
      type: 'Opaque',
      stringData: { token: 'replace-with-a-model-registry-token' },
    },
  ];
}

type Intent = 'update_artifact' | 'create_model' | 'create_version';

const METADATA: Record<Intent, Record<string, string> | undefined> = {
  update_artifact: undefined,
  create_model: {
    'RegisteredModel.name': 'sentiment-analyzer',
    'RegisteredModel.description': 'Sentiment analysis model.',
    'RegisteredModel.owner': 'data-science-team',
    'RegisteredModel.custom_properties': '{"project": "sentiment-analysis-v2"}',
    'ModelVersion.name': '1.0.0',
    'ModelVersion.description': 'Initial release',
    'ModelVersion.author': 'Jane Smith',
    'ModelArtifact.name': 'sentiment-analyzer',
    'ModelArtifact.model_format_name': 'onnx',
    'ModelArtifact.model_format_version': '1',
  },
  create_version: {
    'RegisteredModel.id': '1',
    'ModelVersion.name': '2.0.0',
    'ModelVersion.author': 'John Doe',
    'ModelArtifact.name': 'sentiment-analyzer-v2',
    'ModelArtifact.model_format_name': 'onnx',
    'ModelArtifact.model_format_version': '1',
  },
};

const IDS: Record<Intent, Record<string, string>> = {
  update_artifact: { 'model-id': '1', 'model-version-id': '3', 'model-artifact-id': '6' },
  create_model: {},
  create_version: { 'model-id': '1' },
};

function idLabels(intent: Intent): Obj {
  const ids = IDS[intent];
  return {
    ...(ids['model-id'] ? { [ID_LABELS.model]: ids['model-id'] } : {}),
    ...(ids['model-version-id'] ? { [ID_LABELS.version]: ids['model-version-id'] } : {}),
    ...(ids['model-artifact-id'] ? { [ID_LABELS.artifact]: ids['model-artifact-id'] } : {}),
  };
}

/** A job id per sample Job, as the UI gives each Job a uuid; give each Job you create a fresh one (uuidgen). */
const JOB_IDS: Record<Intent, string> = {
  update_artifact: '3f8e2a64-1c0b-4d57-9a3e-6b1f0c2d7e11',
  create_model: '9b1d4c2e-7f3a-4e68-8c5d-2a0e6f1b3c22',
  create_version: 'c4a7e9f1-2b6d-4f03-a81e-5d9c3b7a0f33',
};

function slug(intent: Intent): string {
  return intent.replace('_', '-');
}

function metadataConfigMap(intent: Intent): Obj | undefined {
  const data = METADATA[intent];
  if (!data) return undefined;
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `model-sync-metadata-${slug(intent)}` }, data };
}

/** The all-in-one Job of one intent: S3 prefix -> modelcar in an OCI registry -> Model Registry. */
function job(intent: Intent): Obj {
  const ids = IDS[intent];
  const cm = metadataConfigMap(intent);
  const destinationUri = `${REGISTRY_HOST}/models/sentiment-analyzer:${intent === 'create_version' ? '2.0.0' : '1.0.0'}`;
  const env: Obj[] = [
    { name: 'MODEL_SYNC_STORAGE_PATH', value: PATHS.workspace },
    { name: 'MODEL_SYNC_SOURCE_TYPE', value: 's3' },
    { name: 'MODEL_SYNC_SOURCE_AWS_KEY', value: 'models/sentiment-analyzer/' },
    { name: 'MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH', value: PATHS.sourceCredentials },
    { name: 'MODEL_SYNC_DESTINATION_TYPE', value: 'oci' },
    { name: 'MODEL_SYNC_DESTINATION_OCI_URI', value: destinationUri },
    { name: 'MODEL_SYNC_DESTINATION_OCI_CREDENTIALS_PATH', value: `${PATHS.destinationCredentials}/.dockerconfigjson` },
    { name: 'MODEL_SYNC_DESTINATION_OCI_CERT_DIR', value: PATHS.destinationOciCerts },
    { name: 'MODEL_SYNC_MODEL_UPLOAD_INTENT', value: intent },
    ...(ids['model-id'] ? [{ name: 'MODEL_SYNC_MODEL_ID', value: ids['model-id'] }] : []),
    ...(ids['model-version-id'] ? [{ name: 'MODEL_SYNC_MODEL_VERSION_ID', value: ids['model-version-id'] }] : []),
    ...(ids['model-artifact-id'] ? [{ name: 'MODEL_SYNC_MODEL_ARTIFACT_ID', value: ids['model-artifact-id'] }] : []),
    { name: 'MODEL_SYNC_METADATA_CONFIGMAP_PATH', value: PATHS.metadata },
    { name: 'MODEL_SYNC_REGISTRY_SERVER_ADDRESS', value: MODEL_REGISTRY },
    { name: 'MODEL_SYNC_REGISTRY_PORT', value: '8443' },
    { name: 'MODEL_SYNC_REGISTRY_AUTHOR', value: 'data-science-team' },
    { name: 'MODEL_SYNC_REGISTRY_USER_TOKEN', valueFrom: { secretKeyRef: { name: OBJECT_PARAMS.registry.default, key: 'token', optional: true } } },
    ...sourceSecretEnv(OBJECT_PARAMS.source.default),
  ];
  const labels = { ...uiLabels(REGISTRY_NAME_PARAM.default, JOB_IDS[intent]), 'app.kubernetes.io/managed-by': 'kubectl', ...idLabels(intent) };
  const jobObj: Obj = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: `model-sync-${slug(intent)}`,
      labels,
      // Annotations the UI shows in its transfer-job list (it lists this Job: the labels match).
      annotations: {
        'modelregistry.kubeflow.org/description': `model-sync all-in-one job (${intent}): S3 -> OCI modelcar -> Model Registry`,
        'modelregistry.kubeflow.org/display-name': `model-sync ${slug(intent)}`,
        'modelregistry.kubeflow.org/upload-intent': intent,
        'modelregistry.kubeflow.org/source-type': 's3',
        'modelregistry.kubeflow.org/dest-type': 'oci',
        'modelregistry.kubeflow.org/dest-uri': destinationUri,
      },
    },
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 21600,
      ttlSecondsAfterFinished: 86400,
      podFailurePolicy: {
        rules: [
          // Bad input, a registry precondition, rejected credentials, a missing source, an unsafe path or a full volume: retrying cannot help.
          { action: 'FailJob', onExitCodes: { containerName: COMMAND, operator: 'In', values: [...NON_RETRYABLE_EXIT_CODES] } },
          // An evicted or preempted pod does not count against backoffLimit.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels: { ...uiLabels(REGISTRY_NAME_PARAM.default, JOB_IDS[intent]), ...idLabels(intent) }, annotations: { ...NO_SIDECAR_ANNOTATIONS } },
        spec: {
          restartPolicy: 'Never',
          enableServiceLinks: ENABLE_SERVICE_LINKS,
          terminationGracePeriodSeconds: TERMINATION_GRACE_PERIOD_SECONDS,
          securityContext: podSecurityContext(),
          containers: [
            {
              name: COMMAND,
              image: imageRef(),
              imagePullPolicy: 'IfNotPresent',
              command: [COMMAND],
              args: ['all'],
              env,
              resources: resources(),
              securityContext: containerSecurityContext(),
              // The one-line cause (or the ids as JSON) is the result; logs if the CLI died before writing it.
              terminationMessagePolicy: 'FallbackToLogsOnError',
              volumeMounts: [
                { name: VOLUMES.workspace, mountPath: PATHS.workspace },
                { name: VOLUMES.tmp, mountPath: PATHS.tmp },
                { name: VOLUMES.sourceCredentials, mountPath: PATHS.sourceCredentials, readOnly: true },
                { name: VOLUMES.destinationCredentials, mountPath: PATHS.destinationCredentials, readOnly: true },
                { name: VOLUMES.metadata, mountPath: PATHS.metadata, readOnly: true },
                { name: VOLUMES.destinationOciCerts, mountPath: PATHS.destinationOciCerts, readOnly: true },
              ],
            },
          ],
          volumes: [
            // One pod: an emptyDir is enough (use an existing PVC to resume after a pod retry).
            { name: VOLUMES.workspace, emptyDir: { sizeLimit: WORKSPACE_SIZE } },
            { name: VOLUMES.tmp, emptyDir: {} },
            { name: VOLUMES.sourceCredentials, secret: { secretName: OBJECT_PARAMS.source.default } },
            {
              name: VOLUMES.destinationCredentials,
              secret: { secretName: OBJECT_PARAMS.destination.default, items: [{ key: '.dockerconfigjson', path: '.dockerconfigjson' }] },
            },
            { name: VOLUMES.metadata, configMap: { name: cm ? (cm.metadata as { name: string }).name : OBJECT_PARAMS.metadata.default, optional: true } },
            // The registry's private CA, if any: its ca.crt is trusted for every host (docs/networks.md).
            { name: VOLUMES.destinationOciCerts, configMap: { name: OBJECT_PARAMS.destinationOciCerts.default, optional: true } },
          ],
        },
      },
    },
  };
  return jobObj;
}

export function jobSample(intent: Intent): Obj[] {
  const cm = metadataConfigMap(intent);
  return cm ? [cm, job(intent)] : [job(intent)];
}

/** Parameters of the sample runs (update_artifact, S3 -> OCI). */
export function sampleRunParameters(): Record<string, string> {
  return {
    'source-type': 's3',
    'source-aws-key': 'models/sentiment-analyzer/',
    'destination-type': 'oci',
    'destination-oci-uri': `${REGISTRY_HOST}/models/sentiment-analyzer:1.0.0`,
    'destination-oci-credentials-path': `${PATHS.destinationCredentials}/.dockerconfigjson`,
    'model-upload-intent': 'update_artifact',
    ...IDS.update_artifact,
    'registry-server-address': MODEL_REGISTRY,
    'registry-port': '8443',
  };
}

function argoArguments(params: Record<string, string> = sampleRunParameters()): Obj {
  return { parameters: Object.entries(params).map(([name, value]) => ({ name, value })) };
}

/** A Workflow of the WorkflowTemplate (workflowTemplateRef); `spec` fields win over the template's. */
function argoWorkflowOf(generateName: string, spec: Obj): Obj {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { generateName, labels: { ...uiLabels(REGISTRY_NAME_PARAM.default), ...idLabels('update_artifact') } },
    spec: { workflowTemplateRef: { name: ARGO_NAME }, ...spec },
  };
}

export function argoWorkflowFromTemplate(): Obj {
  return argoWorkflowOf('model-sync-', { arguments: argoArguments() });
}

/** The one-pod variant of the WorkflowTemplate: entrypoint one-pod, streaming, a small claim of its own. */
export function argoWorkflowOnePod(): Obj {
  return argoWorkflowOf('model-sync-one-pod-', {
    entrypoint: ONE_POD_ENTRYPOINT,
    // Wins over the template's 50Gi claim: a streaming run keeps only records on it.
    volumeClaimTemplates: [
      { metadata: { name: VOLUMES.workspace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: ONE_POD_WORKSPACE_SIZE } } } },
    ],
    arguments: argoArguments({ ...sampleRunParameters(), stream: 'true' }),
  });
}

/** The number of parts in the scale-out samples. */
const SAMPLE_PARTS = '3';

/**
 * The scale-out variant: entrypoint scale-out, `parts` given, a small claim of its own (records
 * only: each part pod has its own emptyDir workspace).
 */
export function argoWorkflowScaleOut(): Obj {
  return argoWorkflowOf('model-sync-scale-out-', {
    entrypoint: SCALE_OUT_ENTRYPOINT,
    volumeClaimTemplates: [
      { metadata: { name: VOLUMES.workspace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: SCALE_OUT_WORKSPACE_SIZE } } } },
    ],
    arguments: argoArguments({ ...sampleRunParameters(), parts: SAMPLE_PARTS }),
  });
}

/** A Workflow of its own calling the leaf templates: it declares `workspace` and its exit handler itself. */
export function argoWorkflowTemplateRef(): Obj {
  const p = sampleRunParameters();
  const call = (name: string, params: Record<string, string>, extra: Obj = {}) => ({
    name,
    templateRef: { name: ARGO_NAME, template: name },
    ...extra,
    arguments: { parameters: Object.entries(params).map(([n, v]) => ({ name: n, value: v })) },
  });
  const registry = { 'registry-server-address': p['registry-server-address']!, 'registry-port': p['registry-port']! };
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { generateName: 'model-sync-steps-', labels: { ...uiLabels(REGISTRY_NAME_PARAM.default), ...idLabels('update_artifact') } },
    spec: {
      entrypoint: 'sync',
      onExit: 'on-exit',
      securityContext: podSecurityContext(),
      podMetadata: { labels: { ...uiLabels(REGISTRY_NAME_PARAM.default, '{{workflow.uid}}'), ...idLabels('update_artifact') } },
      // Volumes of the WorkflowTemplate do not come along with templateRef: declare `workspace` here.
      volumeClaimTemplates: [
        { metadata: { name: VOLUMES.workspace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } },
      ],
      templates: [
        {
          name: 'sync',
          steps: [
            [call('fetch', { 'source-type': 's3', 'source-aws-key': p['source-aws-key']! })],
            [call('package', {})],
            [call('push', { 'destination-oci-uri': p['destination-oci-uri']!, 'destination-oci-credentials-path': p['destination-oci-credentials-path']! })],
            [
              call('register', {
                ...registry,
                'model-artifact-id': p['model-artifact-id']!,
                'model-uri': '{{steps.push.outputs.parameters.model-uri}}',
              }),
            ],
          ],
        },
        {
          name: 'on-exit',
          steps: [
            [
              call(
                'mark-failed',
                { ...registry, 'model-artifact-id': p['model-artifact-id']!, 'failure-reason': '{{workflow.failures}}' },
                { when: '{{workflow.status}} != Succeeded' },
              ),
            ],
          ],
        },
      ],
    },
  };
}

/** A sample PipelineRun of `pipeline` (update_artifact, S3 -> OCI) on a claim of `size`. */
function samplePipelineRun(o: { generateName: string; pipeline: string; params: Record<string, string>; size: string; extraWorkspaces?: Obj[] }): Obj {
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    // Tekton copies these labels to the TaskRuns and pods; it cannot compute one per run, so there is
    // no job-id label (tekton.dev/pipelineRunUID identifies the run).
    metadata: { generateName: o.generateName, labels: { ...uiLabels(REGISTRY_NAME_PARAM.default), ...idLabels('update_artifact') } },
    spec: {
      pipelineRef: { name: o.pipeline },
      params: Object.entries(o.params).map(([name, value]) => ({ name, value })),
      taskRunTemplate: {
        podTemplate: TEKTON_POD_TEMPLATE,
      },
      workspaces: [
        {
          name: VOLUMES.workspace,
          volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: o.size } } } },
        },
        ...(o.extraWorkspaces ?? []),
        ...[VOLUMES.sourceCredentials, VOLUMES.destinationCredentials, VOLUMES.registryCredentials, VOLUMES.destinationOciCerts].map((w) => ({ name: w, ...objectBinding(w) })),
      ],
    },
  };
}

export function pipelineRun(): Obj {
  return samplePipelineRun({ generateName: 'model-sync-', pipeline: PIPELINE_NAME, params: sampleRunParameters(), size: WORKSPACE_SIZE });
}

/**
 * The one-pod Pipeline, streaming, on a small claim (rather than an emptyDir, so that the finally
 * task mark-failed reads what all recorded).
 */
export function pipelineRunOnePod(): Obj {
  return samplePipelineRun({ generateName: 'model-sync-one-pod-', pipeline: ONE_POD_PIPELINE_NAME, params: { ...sampleRunParameters(), stream: 'true' }, size: ONE_POD_WORKSPACE_SIZE });
}

/** The scale-out Pipeline: a small claim for the records, an emptyDir per part TaskRun. */
export function pipelineRunScaleOut(): Obj {
  return samplePipelineRun({
    generateName: 'model-sync-scale-out-',
    pipeline: SCALE_OUT_PIPELINE_NAME,
    params: { ...sampleRunParameters(), parts: SAMPLE_PARTS },
    size: SCALE_OUT_WORKSPACE_SIZE,
    // emptyDir: every part pod gets its own, so the parts need no shared volume and may run on any node.
    extraWorkspaces: [{ name: PART_WORKSPACE, emptyDir: {} }],
  });
}

/** What a step's TaskRun needs beyond the run's parameters (the per-step Pipeline passes these from results). */
const STEP_SAMPLE_PARAMS: Partial<Record<StepName, Record<string, string>>> = {
  register: { 'model-uri': `oci://${REGISTRY_HOST}/models/sentiment-analyzer:1.0.0` },
  plan: { parts: SAMPLE_PARTS },
  'mark-failed': { 'failure-reason': 'push failed: see the TaskRun model-sync-push-xxxxx' },
};

/**
 * A sample run's binding of a credentials or ConfigMap workspace: the Secrets of samples/secrets.yaml,
 * the optional ConfigMaps (metadata, the registries' CAs, whose ca.crt is a CA for every host).
 */
function objectBinding(workspace: string): Obj {
  switch (workspace) {
    case VOLUMES.sourceCredentials:
      return { secret: { secretName: OBJECT_PARAMS.source.default } };
    case VOLUMES.destinationCredentials:
      return { secret: { secretName: OBJECT_PARAMS.destination.default } };
    case VOLUMES.registryCredentials:
      return { secret: { secretName: OBJECT_PARAMS.registry.default } };
    case VOLUMES.metadata:
      return { configMap: { name: OBJECT_PARAMS.metadata.default, optional: true } };
    case VOLUMES.sourceOciCerts:
      return { configMap: { name: OBJECT_PARAMS.sourceOciCerts.default, optional: true } };
    case VOLUMES.destinationOciCerts:
      return { configMap: { name: OBJECT_PARAMS.destinationOciCerts.default, optional: true } };
    default:
      throw new Error(`no sample binding for workspace ${workspace}`);
  }
}

/** The model storage of a sample TaskRun. */
function workspaceBinding(step: StepName): Obj {
  // One pod: an emptyDir, capped like the Job's (a full one ends with exit 8, never retried).
  // A step: the claim deploy/ creates, which the steps share one after the other.
  return step === 'all' ? { emptyDir: { sizeLimit: WORKSPACE_SIZE } } : { persistentVolumeClaim: { claimName: WORKSPACE_CLAIM } };
}

/** A TaskRun of one Task (update_artifact, S3 -> OCI): the params it takes, every workspace bound. */
export function taskRunSample(step: StepName): Obj {
  const declared = new Set(taskParamNames(step));
  const params = Object.entries({ ...sampleRunParameters(), ...STEP_SAMPLE_PARAMS[step] }).filter(([name]) => declared.has(name));
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: { generateName: `${taskName(step)}-`, labels: { ...uiLabels(REGISTRY_NAME_PARAM.default), ...idLabels('update_artifact') } },
    spec: {
      taskRef: { name: taskName(step) },
      params: params.map(([name, value]) => ({ name, value })),
      podTemplate: TEKTON_POD_TEMPLATE,
      workspaces: taskWorkspaces(step).map((w) => ({ name: w.name, ...(w.name === VOLUMES.workspace ? workspaceBinding(step) : objectBinding(w.name)) })),
    },
  };
}
