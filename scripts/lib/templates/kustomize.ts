// deploy/: kustomize packaging of the same resources the templates hold, built from the same
// builders (kustomize refuses files outside a kustomization's folder, so deploy/ has its own
// copies). A base (ServiceAccount, workspace PVC, Secret skeletons, the settings ConfigMap), one
// component per engine (its resources and the RBAC its pods need), a settings component whose
// replacements put the volume size (and, opt-in, the storage class) in place, and an overlay per
// engine. images.yaml teaches kustomize's `images:` the image fields of Argo and Tekton resources.
import { argoWorkflowTemplate } from './argo.js';
import { imageRepository, packageVersion, toYaml, WORKSPACE_CLAIM, WORKSPACE_SIZE } from './common.js';
import { jobSample, secrets } from './samples.js';
import { TEKTON_STEPS, tektonOnePodPipeline, tektonPipeline, tektonScaleOutPipeline, tektonTask } from './tekton.js';

type Obj = Record<string, unknown>;

export const SERVICE_ACCOUNT = 'model-sync';
const SETTINGS = 'model-sync-deploy';
const NAMESPACE = 'model-sync';

const KUSTOMIZATION = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' };
const COMPONENT = { apiVersion: 'kustomize.config.k8s.io/v1alpha1', kind: 'Component' };

/** Fields the images transformer rewrites besides the built-in workload ones (it walks lists itself). */
export const IMAGE_FIELDS: Array<{ kind: string; path: string }> = [
  ...['WorkflowTemplate', 'ClusterWorkflowTemplate', 'Workflow'].flatMap((kind) =>
    ['container', 'script', 'initContainers', 'sidecars'].map((f) => ({ kind, path: `spec/templates/${f}/image` })),
  ),
  ...['steps', 'sidecars', 'stepTemplate'].map((f) => ({ kind: 'Task', path: `spec/${f}/image` })),
  ...['tasks', 'finally'].flatMap((t) => ['steps', 'sidecars', 'stepTemplate'].map((f) => ({ kind: 'Pipeline', path: `spec/${t}/taskSpec/${f}/image` }))),
];

function base(): Record<string, Obj[]> {
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SERVICE_ACCOUNT } };
  const pvc = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: WORKSPACE_CLAIM },
    // The size is set from the settings ConfigMap (components/settings).
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: WORKSPACE_SIZE } } },
  };
  const settings = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    // The one place to edit the volume size and storage class. local-config: kustomize uses it
    // for the replacements (components/settings, components/storage-class) and leaves it out.
    metadata: { name: SETTINGS, annotations: { 'config.kubernetes.io/local-config': 'true' } },
    data: { 'workspace-size': WORKSPACE_SIZE, 'storage-class': 'standard' },
  };
  return {
    'deploy/base/kustomization.yaml': [
      {
        ...KUSTOMIZATION,
        labels: [{ pairs: { 'app.kubernetes.io/part-of': 'model-sync' } }],
        resources: ['serviceaccount.yaml', 'workspace-pvc.yaml', 'secrets.yaml', 'settings.yaml'],
      },
    ],
    'deploy/base/serviceaccount.yaml': [sa],
    'deploy/base/workspace-pvc.yaml': [pvc],
    'deploy/base/secrets.yaml': secrets(),
    'deploy/base/settings.yaml': [settings],
  };
}

/** A Role for the pods' ServiceAccount and its binding. */
function rbac(rules: Obj[]): Obj[] {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'model-sync' }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'model-sync' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'model-sync' },
      subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT }],
    },
  ];
}

function withServiceAccount(wt: Obj): Obj {
  const spec = wt.spec as Obj;
  return { ...wt, spec: { ...spec, serviceAccountName: SERVICE_ACCOUNT } };
}

function argoComponent(): Record<string, Obj[]> {
  return {
    'deploy/components/argo/kustomization.yaml': [{ ...COMPONENT, resources: ['workflowtemplate.yaml', 'rbac.yaml'], configurations: ['images.yaml'] }],
    'deploy/components/argo/images.yaml': [{ images: IMAGE_FIELDS }],
    'deploy/components/argo/workflowtemplate.yaml': [withServiceAccount(argoWorkflowTemplate('WorkflowTemplate'))],
    // Argo's executor (the wait container) reports outputs through workflowtaskresults (v3.4+).
    'deploy/components/argo/rbac.yaml': rbac([{ apiGroups: ['argoproj.io'], resources: ['workflowtaskresults'], verbs: ['create', 'patch'] }]),
  };
}

function tektonComponent(): Record<string, Obj[]> {
  return {
    'deploy/components/tekton/kustomization.yaml': [{ ...COMPONENT, resources: ['tasks.yaml', 'pipelines.yaml'], configurations: ['images.yaml'] }],
    'deploy/components/tekton/images.yaml': [{ images: IMAGE_FIELDS }],
    'deploy/components/tekton/tasks.yaml': TEKTON_STEPS.map((s) => tektonTask(s)),
    'deploy/components/tekton/pipelines.yaml': [tektonPipeline(), tektonOnePodPipeline(), tektonScaleOutPipeline()],
  };
}

function jobComponent(): Record<string, Obj[]> {
  const docs = jobSample('create_model').map((d) => {
    if (d.kind !== 'Job') return d;
    const spec = d.spec as Obj;
    const template = spec.template as Obj;
    const podSpec = template.spec as Obj;
    const volumes = (podSpec.volumes as Obj[]).map((v) => (v.name === 'workspace' ? { name: v.name, persistentVolumeClaim: { claimName: WORKSPACE_CLAIM } } : v));
    return {
      ...d,
      metadata: { ...(d.metadata as Obj), name: 'model-sync' },
      spec: {
        ...spec,
        template: {
          ...template,
          // The claim keeps the workspace across pod retries, so a retry resumes.
          spec: { ...podSpec, serviceAccountName: SERVICE_ACCOUNT, volumes },
        },
      },
    };
  });
  return {
    'deploy/components/job/kustomization.yaml': [{ ...COMPONENT, resources: ['job.yaml'] }],
    'deploy/components/job/job.yaml': docs,
  };
}

/** Replacements from the settings ConfigMap: the workspace size, and (opt-in) the storage class. */
function settingsComponents(): Record<string, Obj[]> {
  const from = (key: string) => ({ kind: 'ConfigMap', name: SETTINGS, fieldPath: `data.${key}` });
  const claims = (field: string, create = false) => [
    { select: { kind: 'PersistentVolumeClaim', name: WORKSPACE_CLAIM }, fieldPaths: [`spec.${field}`], ...(create ? { options: { create: true } } : {}) },
    { select: { kind: 'WorkflowTemplate' }, fieldPaths: [`spec.volumeClaimTemplates.0.spec.${field}`], ...(create ? { options: { create: true } } : {}) },
  ];
  return {
    'deploy/components/settings/kustomization.yaml': [{ ...COMPONENT, replacements: [{ source: from('workspace-size'), targets: claims('resources.requests.storage') }] }],
    // Without it the cluster's default storage class applies.
    'deploy/components/storage-class/kustomization.yaml': [{ ...COMPONENT, replacements: [{ source: from('storage-class'), targets: claims('storageClassName', true) }] }],
  };
}

function overlay(engine: 'argo' | 'tekton' | 'job'): Obj[] {
  return [
    {
      ...KUSTOMIZATION,
      namespace: NAMESPACE,
      resources: ['namespace.yaml', '../../base'],
      components: [`../../components/${engine}`, '../../components/settings'],
      // A mirror or another tag: newName / newTag / digest, here (`kustomize edit set image`): the
      // components' configurations make it reach Argo's and Tekton's image fields too.
      images: [{ name: imageRepository(), newTag: packageVersion() }],
    },
  ];
}

/**
 * A KServe InferenceService serving the pushed modelcar (KServe runs it as a sidecar of the
 * predictor; modelcars need `enableModelcar: true` in the storage initializer's config). The
 * storageUri may be the tag or, with --model-uri-pinned, the digest register recorded.
 */
function inferenceService(): Obj {
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: 'sentiment-analyzer' },
    spec: {
      predictor: {
        serviceAccountName: SERVICE_ACCOUNT,
        model: {
          modelFormat: { name: 'huggingface' },
          storageUri: 'oci://registry.example.com/models/sentiment-analyzer:1.0.0',
        },
      },
    },
  };
}

export function deployFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const all: Record<string, Obj[]> = { ...base(), ...argoComponent(), ...tektonComponent(), ...jobComponent(), ...settingsComponents() };
  all['deploy/samples/inferenceservice.yaml'] = [inferenceService()];
  for (const engine of ['argo', 'tekton', 'job'] as const) {
    all[`deploy/overlays/${engine}/kustomization.yaml`] = overlay(engine);
    all[`deploy/overlays/${engine}/namespace.yaml`] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'istio-injection': 'disabled' } } }];
  }
  for (const [file, docs] of Object.entries(all)) out[file] = toYaml(docs);
  return out;
}

