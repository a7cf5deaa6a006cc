// Facts shared by every generated template: the image, labels, security settings, the fixed paths
// of the mounted volumes, and how each contract parameter is wired (parameter, fixed env, Secret).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadStep, parameterCatalog, stepsDir, type ParamSpec, type StepContract, type StepName } from '../../../src/contract/contract.js';
import { NON_RETRYABLE_EXIT_CODES } from '../../../src/errors.js';

export { NON_RETRYABLE_EXIT_CODES };

function packageJson(): { version: string; license: string } {
  return JSON.parse(readFileSync(path.join(stepsDir(), '..', 'package.json'), 'utf8')) as { version: string; license: string };
}

/** package.json version: the image tag, and (its major.minor) the catalog version label. */
export function packageVersion(): string {
  return packageJson().version;
}

/** package.json license (an SPDX identifier): Artifact Hub's license annotation. */
export function packageLicense(): string {
  return packageJson().license;
}

/** steps/image.yaml: the image's repository and the platforms it is built for. */
function imageSpec(): { repository: string; platforms?: string[] } {
  return YAML.parse(readFileSync(path.join(stepsDir(), 'image.yaml'), 'utf8')) as { repository: string; platforms?: string[] };
}

/** The image's repository (its name without the tag). */
export function imageRepository(): string {
  return imageSpec().repository;
}

/** The platforms steps/image.yaml lists: what the image build produces, and what Tekton's annotation claims. */
export function imagePlatforms(): string[] {
  const { platforms } = imageSpec();
  if (!Array.isArray(platforms) || platforms.length === 0) throw new Error('steps/image.yaml lists no platforms');
  return platforms;
}

/** The one image every template and sample runs. */
export function imageRef(): string {
  return `${imageRepository()}:${packageVersion()}`;
}

/** The CLI binary in the image (its ENTRYPOINT); templates always set `command` to it. */
export const COMMAND = 'model-sync';
/** The image's user (Dockerfile USER 65532:0). */
export const RUN_AS_USER = 65532;
export const FS_GROUP = 65532;

/** Where mounted things live in every pod; upstream's layout for the credential folders. */
export const PATHS = {
  workspace: '/workspace',
  tmp: '/tmp',
  argoResults: '/tmp/model-sync-results',
  tektonResults: '/tekton/results',
  sourceCredentials: '/opt/creds/source',
  destinationCredentials: '/opt/creds/destination',
  registryCredentials: '/opt/creds/registry',
  metadata: '/etc/model-metadata',
  sourceOciCerts: '/etc/model-sync/certs/source',
  destinationOciCerts: '/etc/model-sync/certs/destination',
} as const;

/** Volume / workspace names; a templateRef caller must declare `workspace` itself. */
export const VOLUMES = {
  workspace: 'workspace',
  /** The workspace of one scale-out part: an emptyDir per part pod (Argo push-part, Tekton's matrixed push). */
  partWorkspace: 'part-workspace',
  tmp: 'tmp',
  sourceCredentials: 'source-credentials',
  destinationCredentials: 'destination-credentials',
  registryCredentials: 'registry-credentials',
  metadata: 'metadata',
  sourceOciCerts: 'source-oci-certs',
  destinationOciCerts: 'destination-oci-certs',
} as const;

export type SecretSide = 'source' | 'destination' | 'registry';

/** Template-only parameters naming the Secrets and the ConfigMap (never credentials themselves). */
export const OBJECT_PARAMS = {
  source: { name: 'source-secret', default: 'model-sync-source', description: 'Secret with the source credentials: S3 folder keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_S3_ENDPOINT, AWS_S3_BUCKET), OCI_PASSWORD, .dockerconfigjson or URI, and optional keys passed as environment variables of the same names: HF_TOKEN (hf://) and AZURE_STORAGE_ACCESS_KEY, AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET or their KServe spellings AZ_CLIENT_ID, AZ_TENANT_ID, AZ_CLIENT_SECRET (Azure Blob). Mounted read-only at /opt/creds/source; optional.' },
  destination: { name: 'destination-secret', default: 'model-sync-destination', description: 'Secret with the destination credentials: .dockerconfigjson (set destination-oci-credentials-path to /opt/creds/destination/.dockerconfigjson), OCI_PASSWORD, or S3 folder keys. Mounted read-only at /opt/creds/destination; optional.' },
  registry: { name: 'registry-secret', default: 'model-sync-registry', description: 'Secret with the Model Registry bearer token (key token) and optionally a CA bundle (key ca.crt, set registry-custom-ca to /opt/creds/registry/ca.crt). Mounted read-only at /opt/creds/registry; optional.' },
  metadata: { name: 'metadata-configmap', default: 'model-sync-metadata', description: 'ConfigMap with the model metadata in dot notation (RegisteredModel.name, ModelVersion.name, ...), mounted read-only at /etc/model-metadata; optional.' },
  sourceOciCerts: {
    name: 'source-oci-certs-configmap',
    default: 'model-sync-source-oci-certs',
    description: `ConfigMap with CAs for the source registry, mounted read-only at ${PATHS.sourceOciCerts} as the source-oci-cert-dir certs.d folder: a key ca.crt is a CA for every host (kubectl create configmap model-sync-source-oci-certs --from-file=ca.crt=my-ca.pem); optional.`,
  },
  destinationOciCerts: {
    name: 'destination-oci-certs-configmap',
    default: 'model-sync-destination-oci-certs',
    description: `ConfigMap with CAs for the destination registry (and a base image on its host), mounted read-only at ${PATHS.destinationOciCerts} as the destination-oci-cert-dir certs.d folder: a key ca.crt is a CA for every host; optional.`,
  },
} as const;

/** The ConfigMap-backed certs.d folders: the setting each one fills, its volume, its mount path. */
export const CERT_FOLDERS = [
  { side: 'sourceOciCerts', setting: 'source-oci-cert-dir', volume: VOLUMES.sourceOciCerts, mountPath: PATHS.sourceOciCerts },
  { side: 'destinationOciCerts', setting: 'destination-oci-cert-dir', volume: VOLUMES.destinationOciCerts, mountPath: PATHS.destinationOciCerts },
] as const;
type CertSide = (typeof CERT_FOLDERS)[number]['side'];

/** Secret keys feeding the secret parameters through secretKeyRef (optional: true). */
const SECRET_KEYS: Record<string, { side: SecretSide; key: string }> = {
  'source-aws-access-key-id': { side: 'source', key: 'AWS_ACCESS_KEY_ID' },
  'source-aws-secret-access-key': { side: 'source', key: 'AWS_SECRET_ACCESS_KEY' },
  'source-oci-password': { side: 'source', key: 'OCI_PASSWORD' },
  'destination-aws-access-key-id': { side: 'destination', key: 'AWS_ACCESS_KEY_ID' },
  'destination-aws-secret-access-key': { side: 'destination', key: 'AWS_SECRET_ACCESS_KEY' },
  'destination-oci-password': { side: 'destination', key: 'OCI_PASSWORD' },
  'registry-user-token': { side: 'registry', key: 'token' },
};

/**
 * Credentials the sources read under their own names (Hugging Face's, and KServe's for Azure Blob;
 * config/settings.ts): every step that reads the source gets them from the source Secret's keys of
 * the same names, optional, so a Secret without them changes nothing.
 */
export const SOURCE_SECRET_ENV = [
  'HF_TOKEN',
  'AZURE_STORAGE_ACCESS_KEY',
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  // KServe's spellings, so that a Secret made for KServe's storage initializer works as it is.
  'AZ_CLIENT_ID',
  'AZ_TENANT_ID',
  'AZ_CLIENT_SECRET',
] as const;

export function sourceSecretEnv(secretName: string): Array<Record<string, unknown>> {
  return SOURCE_SECRET_ENV.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secretName, key, optional: true } } }));
}

export type Engine = 'argo' | 'tekton';

export type Wiring =
  | { kind: 'param' }
  | { kind: 'fixed'; value: string }
  | { kind: 'secret'; side: SecretSide; key: string };

/** Parameters whose value the template sets because it owns the path they name. */
function fixedValue(name: string, engine: Engine): string | undefined {
  const tekton = engine === 'tekton';
  switch (name) {
    case 'storage-path':
      return tekton ? `$(workspaces.${VOLUMES.workspace}.path)` : PATHS.workspace;
    case 'results-dir':
      // Argo: a per-pod folder, so an output is exactly what this pod produced.
      return tekton ? PATHS.tektonResults : PATHS.argoResults;
    case 'source-s3-credentials-path':
      return tekton ? `$(workspaces.${VOLUMES.sourceCredentials}.path)` : PATHS.sourceCredentials;
    case 'destination-s3-credentials-path':
      return tekton ? `$(workspaces.${VOLUMES.destinationCredentials}.path)` : PATHS.destinationCredentials;
    case 'metadata-configmap-path':
      return tekton ? `$(workspaces.${VOLUMES.metadata}.path)` : PATHS.metadata;
    default: {
      const certs = CERT_FOLDERS.find((c) => c.setting === name);
      if (!certs) return undefined;
      return tekton ? `$(workspaces.${certs.volume}.path)` : certs.mountPath;
    }
  }
}

export function wiringOf(p: ParamSpec, engine: Engine): Wiring {
  const fixed = fixedValue(p.name, engine);
  if (fixed !== undefined) return { kind: 'fixed', value: fixed };
  if (p.secret) {
    const ref = SECRET_KEYS[p.name];
    if (!ref) throw new Error(`secret parameter ${p.name} has no Secret key in scripts/lib/templates/common.ts`);
    return { kind: 'secret', ...ref };
  }
  return { kind: 'param' };
}

/**
 * Settings only `all` acts on. preflight takes every setting ("*") to validate them; its template
 * leaves these at their defaults rather than offer a knob that changes nothing in the per-step chain.
 */
export const ALL_ONLY_PARAMS: ReadonlySet<string> = new Set(['stream']);

/** The contract parameters a step's template sets (wired as a parameter, a fixed value or a Secret key). */
export function templateParams(step: StepContract): ParamSpec[] {
  return step.name === 'all' ? step.parameters : step.parameters.filter((p) => !ALL_ONLY_PARAMS.has(p.name));
}

/** Contract parameters a step's template exposes as its own parameters. */
export function exposedParams(step: StepContract, engine: Engine): ParamSpec[] {
  return templateParams(step).filter((p) => wiringOf(p, engine).kind === 'param');
}

/** Which Secrets / ConfigMap a step reads. */
export function objectsOf(step: StepContract): Record<'source' | 'destination' | 'registry' | 'metadata' | CertSide, boolean> {
  const has = (n: string) => step.parameters.some((p) => p.name === n);
  // A CA ConfigMap wherever the step takes the certs.d setting it fills.
  const certs = Object.fromEntries(CERT_FOLDERS.map((c) => [c.side, has(c.setting)])) as Record<CertSide, boolean>;
  return {
    source: has('source-type') || has('source-s3-credentials-path'),
    destination: has('destination-oci-credentials-path') || has('destination-s3-credentials-path'),
    registry: has('registry-server-address'),
    metadata: has('metadata-configmap-path'),
    ...certs,
  };
}

/** A contract default as the string a template parameter carries ('' when there is none). */
export function defaultString(p: ParamSpec): string | undefined {
  return p.default === undefined ? undefined : String(p.default);
}

/** Allowed values of a parameter (enums, and booleans as true/false; '' too when unset means something). */
export function allowedValues(p: ParamSpec): string[] | undefined {
  if (p.enum) return p.enum;
  if (p.type === 'boolean') return p.default === undefined ? ['', 'true', 'false'] : ['true', 'false'];
  return undefined;
}

export function describeParam(p: ParamSpec): string {
  const allowed = allowedValues(p);
  const extras = [`CLI ${p.flag} / ${p.env}.`];
  if (allowed) extras.push(`One of: ${allowed.join(', ')}.`);
  if (p.required) extras.push('Required.');
  if (p.requiredWhen) {
    extras.push(`Required when ${Object.entries(p.requiredWhen).map(([k, v]) => `${k} is ${v.join(' or ')}`).join(' and ')}.`);
  }
  if (p.fallback) extras.push(`Else ${p.fallback}.`);
  // No engine syntax in descriptions: Argo's validator resolves every {{...}} it finds.
  return `${p.description} ${extras.join(' ')}`.replace(/\{\{\s*([^}]+?)\s*\}\}/g, '$1').replace(/\$\(([^)]+)\)/g, '$1');
}

/** Steps in the order the chained templates run them. */
export const CHAIN: StepName[] = ['preflight', 'fetch', 'package', 'push', 'register'];
/** Every step that gets a template of its own. */
export const LEAF_STEPS: StepName[] = ['preflight', 'fetch', 'package', 'push', 'register', 'mark-failed', 'all', 'plan', 'assemble'];
/**
 * The scale-out chain (docs/scale-out.md): push runs once per part of the plan (--part I/N), each
 * part in a pod of its own that streams its layers from the source into the destination registry.
 */
export const SCALE_OUT_CHAIN: StepName[] = ['preflight', 'plan', 'push', 'assemble', 'register'];
/**
 * Settings only the scale-out chain sets: the per-step chain passes them empty, so that a value
 * meant for the scale-out run (parts on preflight: count only the base image's room) cannot
 * change what the per-step chain does.
 */
export const SCALE_OUT_ONLY_PARAMS: ReadonlySet<string> = new Set(['parts', 'part']);
/**
 * How many parts run at once by default (Argo `parallelism` of the scale-out template). A literal:
 * Argo v4's CRD types parallelism as an integer, so no {{...}} parameter can set it (a kustomize
 * patch or the submitted Workflow's own spec.parallelism does: docs/templates.md).
 */
export const PARTS_AT_ONCE = 4;
/** Results a Tekton Task declares as `type: array` (a JSON list in the results file). */
export const ARRAY_RESULTS: Partial<Record<StepName, readonly string[]>> = { plan: ['parts'] };
/**
 * Tekton release each generated file needs: v1 Tasks and Pipelines since 0.50; the scale-out
 * Pipeline needs `matrix` (beta in 0.53.0) fed by a whole array result (`$(tasks.plan.results.parts[*])`,
 * consumable in a matrix since the work that promoted matrix to beta; array results are beta since 0.45).
 */
export const TEKTON_MIN_VERSION = '0.50.0';
export const TEKTON_MATRIX_MIN_VERSION = '0.53.0';

export function step(name: StepName): StepContract {
  return loadStep(name);
}

export function catalog(): Map<string, ParamSpec> {
  return parameterCatalog();
}

/** Results exported as Argo global outputs (ids, URI, digest). */
export const GLOBAL_RESULTS = new Set(['registered-model-id', 'model-version-id', 'model-artifact-id', 'model-uri', 'image-digest']);

/** Labels the Model Registry UI looks for on the upstream job's pods. */
export const UI_LABELS: Record<string, string> = {
  'app.kubernetes.io/name': 'model-registry-async-job',
  'app.kubernetes.io/component': 'async-job',
  'app.kubernetes.io/part-of': 'model-registry',
  component: 'model-registry-job',
  'modelregistry.kubeflow.org/job-type': 'async-upload',
};
/**
 * The Model Registry UI backend lists batch/v1 Jobs by job-type=async-upload plus
 * model-registry-name=<registry> (shared_k8s_client.go GetAllModelTransferJobs), and reads job-id
 * (a uuid per job) back as the transfer job's id.
 */
export const BFF_LABELS = {
  jobType: 'modelregistry.kubeflow.org/job-type',
  jobId: 'modelregistry.kubeflow.org/job-id',
  registryName: 'modelregistry.kubeflow.org/model-registry-name',
} as const;

/** Template-only parameter: the Model Registry (its name in the UI) the run's labels point at. */
export const REGISTRY_NAME_PARAM = {
  name: 'model-registry-name',
  default: 'model-registry',
  description:
    'Name of the Model Registry (as the Model Registry UI names it) put in the label modelregistry.kubeflow.org/model-registry-name of the pods, next to job-type=async-upload and job-id. The UI lists only batch/v1 Jobs with these labels, not workflow or pipeline runs.',
} as const;

/** UI_LABELS plus the registry name and, where the engine can give one per run, the job id. */
export function uiLabels(registryName: string, jobId?: string): Record<string, string> {
  return { ...UI_LABELS, [BFF_LABELS.registryName]: registryName, ...(jobId === undefined ? {} : { [BFF_LABELS.jobId]: jobId }) };
}

/**
 * Pods get no `<SERVICE>_PORT=tcp://...` variables: a Service named model-sync-registry would
 * otherwise set MODEL_SYNC_REGISTRY_PORT. Argo has no field for it, so a podSpecPatch carries it.
 */
export const ENABLE_SERVICE_LINKS = false;
/**
 * On every job pod: Kubeflow namespaces inject Istio sidecars, and a sidecar that never exits
 * keeps a Job's pod (and an Argo or Tekton step's) from completing.
 */
export const NO_SIDECAR_ANNOTATIONS: Readonly<Record<string, string>> = { 'sidecar.istio.io/inject': 'false' };
export const ARGO_POD_SPEC_PATCH = JSON.stringify({ enableServiceLinks: ENABLE_SERVICE_LINKS });
/** A Tekton run's podTemplate: fsGroup so non-root steps write to the PVC, no service link variables. */
export const TEKTON_POD_TEMPLATE = { securityContext: { fsGroup: FS_GROUP }, enableServiceLinks: ENABLE_SERVICE_LINKS } as const;
export const ID_LABELS = {
  model: 'modelregistry.kubeflow.org/model-sync-model-id',
  version: 'modelregistry.kubeflow.org/model-sync-model-version-id',
  artifact: 'modelregistry.kubeflow.org/model-sync-model-artifact-id',
} as const;

export function containerSecurityContext(): Record<string, unknown> {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function podSecurityContext(): Record<string, unknown> {
  return { runAsNonRoot: true, runAsUser: RUN_AS_USER, fsGroup: FS_GROUP, seccompProfile: { type: 'RuntimeDefault' } };
}

/** Literal requests/limits (Argo v4 rejects templated quantities; patch with podSpecPatch or kustomize). */
export function resources(): Record<string, unknown> {
  return { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } };
}

/**
 * The workspace volume's size, the one value behind the Job's emptyDir sizeLimit, the Tekton
 * PipelineRun's claim request, the TaskRun's emptyDir sizeLimit and Argo's claim. A literal in
 * every engine: none substitutes a parameter into a quantity (Argo v4's CRD refuses {{...}};
 * Tekton substitutes params only into a binding's subPath and object names). Set it by editing
 * the sample or with a kustomize replacement (docs/templates.md).
 */
export const WORKSPACE_SIZE = '50Gi';
/** The workspace claim deploy/ creates: the step TaskRun samples bind it, so their steps share it. */
export const WORKSPACE_CLAIM = 'model-sync-workspace';
/**
 * The claim of the one-pod samples (Argo entrypoint one-pod, Tekton model-sync-pipeline-one-pod).
 * A streaming `all` keeps only records and results there (kilobytes); the room is for a run that
 * has to stage (an archive, an OCI source, stream false), which needs the model's size instead.
 */
export const ONE_POD_WORKSPACE_SIZE = '1Gi';
/**
 * The claim of the scale-out samples: preflight, plan, assemble, register and mark-failed keep only
 * records there; each part pod has a workspace of its own (an emptyDir) and stages nothing.
 */
export const SCALE_OUT_WORKSPACE_SIZE = '1Gi';
/**
 * The pod's terminationGracePeriodSeconds in the Job samples: SIGTERM, then SIGKILL this long after.
 * Kubernetes' default, written out because it must stay above model-sync's own
 * termination-grace-period (default 20 s), in which it aborts open uploads and writes the
 * termination message (test/sigterm.test.ts checks the samples).
 */
export const TERMINATION_GRACE_PERIOD_SECONDS = 30;
export const WORKFLOW_DEADLINE_SECONDS = 43200;
export const RETRY_LIMIT = 3;

/** Argo retry expression: retry exit codes 1 (internal), 7 (integrity), 10 (transient), never the bad-input ones. */
export function argoRetryExpression(): string {
  return `!(asInt(lastRetry.exitCode) in [${NON_RETRYABLE_EXIT_CODES.join(', ')}])`;
}

export const GENERATED_HEADER = '# Generated by `npm run generate` from steps/*.yaml (scripts/lib/templates). Do not edit by hand.\n';

export function toYaml(docs: unknown[], header = GENERATED_HEADER): string {
  return header + docs.map((d) => YAML.stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}
