// Argo Workflows: one WorkflowTemplate `model-sync` (and the same spec as a ClusterWorkflowTemplate)
// with a leaf container template per step, a `main` steps template chaining them on the
// `workspace` volume claim, a `one-pod` steps template running `all` alone (entrypoint: one-pod),
// a `scale-out` steps template (preflight, plan, push-part fanned out over the plan's parts with
// withParam, assemble, register; entrypoint: scale-out), and an exit handler that runs mark-failed
// when the workflow failed.
import type { StepName } from '../../../src/contract/contract.js';
import {
  CERT_FOLDERS,
  CHAIN,
  COMMAND,
  GLOBAL_RESULTS,
  ID_LABELS,
  LEAF_STEPS,
  NO_SIDECAR_ANNOTATIONS,
  OBJECT_PARAMS,
  sourceSecretEnv,
  PARTS_AT_ONCE,
  SCALE_OUT_CHAIN,
  SCALE_OUT_ONLY_PARAMS,
  PATHS,
  RETRY_LIMIT,
  UI_LABELS,
  VOLUMES,
  WORKFLOW_DEADLINE_SECONDS,
  WORKSPACE_SIZE,
  allowedValues,
  ARGO_POD_SPEC_PATCH,
  BFF_LABELS,
  REGISTRY_NAME_PARAM,
  argoRetryExpression,
  catalog,
  containerSecurityContext,
  defaultString,
  describeParam,
  exposedParams,
  imageRef,
  objectsOf,
  packageVersion,
  podSecurityContext,
  resources,
  step,
  templateParams,
  wiringOf,
} from './common.js';

type Obj = Record<string, unknown>;

export const ARGO_NAME = 'model-sync';

/** Template-only parameters a step's leaf takes: Secret / ConfigMap names, the registry name of the labels. */
function objectParamsOf(name: StepName): { name: string; default: string; description: string }[] {
  const o = objectsOf(step(name));
  return [...(['source', 'destination', 'registry', 'metadata', 'sourceOciCerts', 'destinationOciCerts'] as const).filter((k) => o[k]).map((k) => OBJECT_PARAMS[k]), REGISTRY_NAME_PARAM];
}

function leafInputs(name: StepName): Obj[] {
  const params: Obj[] = exposedParams(step(name), 'argo').map((p) => {
    const def = defaultString(p);
    const allowed = allowedValues(p);
    return {
      name: p.name,
      // A parameter the CLI requires in every case has no default: Argo then insists on a value.
      ...(p.required ? {} : { default: def ?? '' }),
      ...(allowed ? { enum: allowed } : {}),
      description: describeParam(p),
    };
  });
  for (const o of objectParamsOf(name)) params.push({ name: o.name, default: o.default, description: o.description });
  return params;
}

function leafEnv(name: StepName): Obj[] {
  const env: Obj[] = [];
  for (const p of templateParams(step(name))) {
    const w = wiringOf(p, 'argo');
    if (w.kind === 'param') env.push({ name: p.env, value: `{{inputs.parameters.${p.name}}}` });
    else if (w.kind === 'fixed') env.push({ name: p.env, value: w.value });
    else {
      env.push({
        name: p.env,
        valueFrom: { secretKeyRef: { name: `{{inputs.parameters.${OBJECT_PARAMS[w.side].name}}}`, key: w.key, optional: true } },
      });
    }
  }
  if (objectsOf(step(name)).source) env.push(...sourceSecretEnv(`{{inputs.parameters.${OBJECT_PARAMS.source.name}}}`));
  return env;
}

/**
 * `ownWorkspace`: the template mounts an emptyDir of its own (`part-workspace`) at the workspace
 * path instead of the workflow's claim. The scale-out parts need it: they run on any node at once,
 * where one ReadWriteOnce claim cannot follow them. (A different name, so that nothing depends on
 * which of two same-named volumes Argo picks.)
 */
function leafVolumes(name: StepName, ownWorkspace = false): { volumes: Obj[]; mounts: Obj[] } {
  const o = objectsOf(step(name));
  // Template-level volumes travel with templateRef; only `workspace` must come from the caller.
  const volumes: Obj[] = [...(ownWorkspace ? [{ name: VOLUMES.partWorkspace, emptyDir: {} }] : []), { name: VOLUMES.tmp, emptyDir: {} }];
  const mounts: Obj[] = [
    { name: ownWorkspace ? VOLUMES.partWorkspace : VOLUMES.workspace, mountPath: PATHS.workspace },
    { name: VOLUMES.tmp, mountPath: PATHS.tmp },
  ];
  const secret = (volume: string, param: string, mountPath: string) => {
    volumes.push({ name: volume, secret: { secretName: `{{inputs.parameters.${param}}}`, optional: true } });
    mounts.push({ name: volume, mountPath, readOnly: true });
  };
  if (o.source) secret(VOLUMES.sourceCredentials, OBJECT_PARAMS.source.name, PATHS.sourceCredentials);
  if (o.destination) secret(VOLUMES.destinationCredentials, OBJECT_PARAMS.destination.name, PATHS.destinationCredentials);
  if (o.registry) secret(VOLUMES.registryCredentials, OBJECT_PARAMS.registry.name, PATHS.registryCredentials);
  const configMap = (volume: string, param: string, mountPath: string) => {
    volumes.push({ name: volume, configMap: { name: `{{inputs.parameters.${param}}}`, optional: true } });
    mounts.push({ name: volume, mountPath, readOnly: true });
  };
  if (o.metadata) configMap(VOLUMES.metadata, OBJECT_PARAMS.metadata.name, PATHS.metadata);
  for (const c of CERT_FOLDERS) if (o[c.side]) configMap(c.volume, OBJECT_PARAMS[c.side].name, c.mountPath);
  return { volumes, mounts };
}

function leafOutputs(name: StepName, exportGlobals = name !== 'mark-failed'): Obj[] {
  return step(name).results.map((r) => ({
    name: r.name,
    description: r.description,
    ...(exportGlobals && GLOBAL_RESULTS.has(r.name) ? { globalName: r.name } : {}),
    valueFrom: { path: `${PATHS.argoResults}/${r.name}`, default: '' },
  }));
}

/** The leaf template of push for one part of the plan: push --part {{item}} on a workspace of its own. */
export const PUSH_PART_TEMPLATE = 'push-part';

/** A leaf template running step `name`; `variant` changes what the part template of push needs. */
function leafTemplate(name: StepName, variant?: typeof PUSH_PART_TEMPLATE): Obj {
  const part = variant === PUSH_PART_TEMPLATE;
  const { volumes, mounts } = leafVolumes(name, part);
  // A part's outputs describe the part only: never the workflow's model-uri or image-digest.
  const outputs = leafOutputs(name, !part && name !== 'mark-failed');
  // The part selector has no default there: each child of the fan-out gets its `{{item}}`.
  const inputs = leafInputs(name).map((p) => {
    if (!part || p.name !== 'part') return p;
    const { default: _none, ...required } = p;
    return required;
  });
  return {
    name: variant ?? name,
    // Template metadata travels with templateRef (a caller's podMetadata does not come from here).
    metadata: {
      labels: {
        ...UI_LABELS,
        [BFF_LABELS.registryName]: `{{inputs.parameters.${REGISTRY_NAME_PARAM.name}}}`,
        [BFF_LABELS.jobId]: '{{workflow.uid}}',
        'app.kubernetes.io/managed-by': 'argo-workflows',
        'model-sync/step': name,
      },
      annotations: { ...NO_SIDECAR_ANNOTATIONS },
    },
    inputs: { parameters: inputs },
    outputs: { parameters: outputs },
    securityContext: podSecurityContext(),
    // At template level so that it travels with templateRef into callers' Workflows.
    podSpecPatch: ARGO_POD_SPEC_PATCH,
    retryStrategy: {
      limit: RETRY_LIMIT,
      retryPolicy: 'Always',
      backoff: { duration: '10s', factor: 2, maxDuration: '10m' },
      expression: argoRetryExpression(),
    },
    volumes,
    container: {
      image: imageRef(),
      imagePullPolicy: 'IfNotPresent',
      command: [COMMAND],
      args: [name],
      env: leafEnv(name),
      resources: resources(),
      securityContext: containerSecurityContext(),
      volumeMounts: mounts,
    },
  };
}

/** Arguments a `main` step passes: workflow parameters, plus outputs of earlier steps where they exist. */
function stepArguments(name: StepName, overrides: Record<string, string> = {}): Obj {
  const parameters = (leafInputs(name) as { name: string }[]).map((p) => ({
    name: p.name,
    value: overrides[p.name] ?? `{{workflow.parameters.${p.name}}}`,
  }));
  return { parameters };
}

const FROM_EARLIER_STEPS: Partial<Record<StepName, Record<string, string>>> = {
  register: {
    'model-uri': '{{steps.push.outputs.parameters.model-uri}}',
    'model-id': '{{steps.preflight.outputs.parameters.registered-model-id}}',
    'model-version-id': '{{steps.preflight.outputs.parameters.model-version-id}}',
    'model-artifact-id': '{{steps.preflight.outputs.parameters.model-artifact-id}}',
  },
};

/** The per-step chain leaves the scale-out settings empty (preflight would count only the base image's room). */
function withoutScaleOut(name: StepName): Record<string, string> {
  return Object.fromEntries((leafInputs(name) as { name: string }[]).filter((p) => SCALE_OUT_ONLY_PARAMS.has(p.name)).map((p) => [p.name, '']));
}

function mainTemplate(): Obj {
  const steps = CHAIN.map((name) => [
    {
      name,
      template: name,
      ...(name === 'package' ? { when: '{{workflow.parameters.destination-type}} == oci' } : {}),
      arguments: stepArguments(name, { ...withoutScaleOut(name), ...FROM_EARLIER_STEPS[name] }),
    },
  ]);
  return { name: 'main', steps };
}

/** The template of the scale-out variant, selected with `entrypoint: scale-out`. */
export const SCALE_OUT_ENTRYPOINT = 'scale-out';

/**
 * The scale-out variant: preflight (told the number of parts, so it counts only the base image's
 * room), plan, one push-part pod per part the plan lists (withParam over its `parts` output, at
 * most PARTS_AT_ONCE at a time), assemble, register with assemble's URI; the same exit handler.
 */
function scaleOutTemplate(): Obj {
  const fromEarlier: Partial<Record<StepName, Record<string, string>>> = {
    register: { ...FROM_EARLIER_STEPS.register, 'model-uri': '{{steps.assemble.outputs.parameters.model-uri}}' },
  };
  const steps = SCALE_OUT_CHAIN.map((name) => {
    if (name !== 'push') return [{ name, template: name, arguments: stepArguments(name, fromEarlier[name]) }];
    return [
      {
        name: PUSH_PART_TEMPLATE,
        template: PUSH_PART_TEMPLATE,
        withParam: '{{steps.plan.outputs.parameters.parts}}',
        arguments: stepArguments('push', { part: '{{item}}' }),
      },
    ];
  });
  // An integer (Argo v4's CRD): no {{...}}. It caps the parts running at once (the other steps run alone).
  return { name: SCALE_OUT_ENTRYPOINT, parallelism: PARTS_AT_ONCE, steps };
}

/** The template of the one-pod variant: `model-sync all` in one pod, selected with `entrypoint: one-pod`. */
export const ONE_POD_ENTRYPOINT = 'one-pod';

/**
 * The one-pod variant: `all` alone, which streams the model from the source into the destination
 * when it can (--stream), so that the claim holds only records. Same workflow parameters, same
 * exit handler (a backstop: `all` records a failure itself, unless its pod is killed outright).
 */
function onePodTemplate(): Obj {
  return { name: ONE_POD_ENTRYPOINT, steps: [[{ name: 'all', template: 'all', arguments: stepArguments('all') }]] };
}

function exitHandlerTemplate(): Obj {
  return {
    name: 'exit-handler',
    steps: [
      [
        {
          name: 'mark-failed',
          template: 'mark-failed',
          when: '{{workflow.status}} != Succeeded',
          // Ids come from the workflow parameters and from what earlier steps recorded in the workspace.
          arguments: stepArguments('mark-failed', { 'failure-reason': '{{workflow.failures}}' }),
        },
      ],
    ],
  };
}

/** Workflow-level parameters: those the entrypoints, the exit handler and the pod labels read, in catalog order. */
function workflowParameters(callers: Obj[]): Obj[] {
  const used = new Set([...JSON.stringify(callers).matchAll(/\{\{workflow\.parameters\.([\w.-]+)\}\}/g)].map((m) => m[1]!));
  const out: Obj[] = [];
  for (const n of catalog().keys()) {
    if (!used.has(n)) continue;
    const spec = catalog().get(n)!;
    const allowed = allowedValues(spec);
    out.push({
      name: n,
      ...(spec.required ? {} : { value: defaultString(spec) ?? '' }),
      ...(allowed ? { enum: allowed } : {}),
      description: describeParam(spec),
    });
  }
  for (const o of [...Object.values(OBJECT_PARAMS), REGISTRY_NAME_PARAM]) if (used.has(o.name)) out.push({ name: o.name, value: o.default, description: o.description });
  return out;
}

/** The UI's labels; the workflow's uid stands for the job id (a uuid per run, as the UI's). */
function podLabels(): Obj {
  return {
    ...UI_LABELS,
    [BFF_LABELS.registryName]: `{{workflow.parameters.${REGISTRY_NAME_PARAM.name}}}`,
    [BFF_LABELS.jobId]: '{{workflow.uid}}',
    [ID_LABELS.model]: '{{workflow.parameters.model-id}}',
    [ID_LABELS.version]: '{{workflow.parameters.model-version-id}}',
    [ID_LABELS.artifact]: '{{workflow.parameters.model-artifact-id}}',
  };
}

function templateSpec(): Obj {
  const callers = [mainTemplate(), onePodTemplate(), scaleOutTemplate(), exitHandlerTemplate()];
  return {
    entrypoint: 'main',
    onExit: 'exit-handler',
    activeDeadlineSeconds: WORKFLOW_DEADLINE_SECONDS,
    securityContext: podSecurityContext(),
    workflowMetadata: {
      labels: { ...UI_LABELS, 'app.kubernetes.io/managed-by': 'argo-workflows' },
      // Computed per run: the registry name parameter and the workflow's uid as the job id.
      labelsFrom: {
        [BFF_LABELS.registryName]: { expression: `workflow.parameters['${REGISTRY_NAME_PARAM.name}']` },
        [BFF_LABELS.jobId]: { expression: 'workflow.uid' },
      },
    },
    podMetadata: { labels: podLabels() },
    // A failed run keeps its claim so that `argo retry` resumes on the same files.
    volumeClaimGC: { strategy: 'OnWorkflowSuccess' },
    ttlStrategy: { secondsAfterSuccess: 86400, secondsAfterFailure: 604800 },
    podGC: { strategy: 'OnPodSuccess' },
    arguments: { parameters: workflowParameters([...callers, podLabels()]) },
    volumeClaimTemplates: [
      {
        metadata: { name: VOLUMES.workspace },
        // A literal size: Argo v4 rejects {{...}} here. Change it with kustomize or the calling Workflow.
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: WORKSPACE_SIZE } } },
      },
    ],
    templates: [...callers, ...LEAF_STEPS.map((name) => leafTemplate(name)), leafTemplate('push', PUSH_PART_TEMPLATE)],
  };
}

function metadata(): Obj {
  return {
    name: ARGO_NAME,
    labels: { 'app.kubernetes.io/name': 'model-sync', 'app.kubernetes.io/version': packageVersion() },
    annotations: {
      'workflows.argoproj.io/title': 'model-sync: move a model and register it in Kubeflow Model Registry',
      'workflows.argoproj.io/description':
        'Runs preflight, fetch, package (OCI destinations only), push and register on one volume claim named `workspace`; ' +
        'on failure the exit handler runs mark-failed so no ModelArtifact stays PENDING. ' +
        'With entrypoint `one-pod`, `model-sync all` does it all in one pod instead, streaming the model from the source into the destination where it can (parameter `stream`), so the claim can be small. ' +
        'With entrypoint `scale-out`, plan splits the model into `parts` parts that as many pods push at once (each on a workspace of its own), then assemble builds the image and register records it. ' +
        'Each step is also a template of its own (templateRef); callers must declare a volume named `workspace`.',
      'workflows.argoproj.io/version': '>= 3.6.0',
      'workflows.argoproj.io/maintainer': 'model-sync',
      'workflows.argoproj.io/tags': 'model-registry,kserve,modelcar,oci,s3',
    },
  };
}

export function argoWorkflowTemplate(kind: 'WorkflowTemplate' | 'ClusterWorkflowTemplate'): Obj {
  return { apiVersion: 'argoproj.io/v1alpha1', kind, metadata: metadata(), spec: templateSpec() };
}
