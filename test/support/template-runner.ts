// A small interpreter for our generated Argo WorkflowTemplate and Tekton Pipeline: it resolves
// parameters the way the engines do, materialises Secret/ConfigMap/emptyDir/workspace volumes as
// temp folders (mount paths in env and args are rewritten to them), runs each container's
// command+args+env as a local process with the BUILT CLI in place of `model-sync`, passes output
// parameters / results between steps, evaluates the simple `when`s, honours retries, and runs the
// exit handler / finally tasks. It covers what our templates use, and throws on anything else.
// runJob starts a batch/v1 Job's pod the same way, with the image's ENTRYPOINT/CMD where the
// container sets no command or args.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, cleanEnv } from '../../dev/cli.js';

type Obj = Record<string, any>;

export interface RunnerOptions {
  /** Folder for the run's volumes and pod files (a temp dir the caller removes). */
  root: string;
  /** Secrets and ConfigMaps "in the namespace". */
  objects: Obj[];
  /** Extra environment for every process (not part of the templates). */
  env?: Record<string, string>;
  cli?: string;
  timeoutMs?: number;
}

/** One step's pod as run: what its container did, plus where it sat in the run. */
export interface PodRun extends ContainerResult {
  /** Step or pipeline-task name. */
  name: string;
  template: string;
  attempt: number;
  outputs: Record<string, string>;
}

export interface EngineRun {
  status: 'Succeeded' | 'Failed';
  pods: PodRun[];
  /** Pods of the exit handler (Argo) or finally tasks (Tekton). */
  exitPods: PodRun[];
  /** Argo global outputs or Tekton pipeline results. */
  outputs: Record<string, string>;
  /** Steps/tasks skipped by a `when`. */
  skipped: string[];
  /** Host folder standing for the shared workspace volume. */
  workspace: string;
}

// ---------------------------------------------------------------------------------------------
// Shared: objects, volumes, processes

function objectData(o: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((o.data ?? {}) as Record<string, string>)) out[k] = o.kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
  for (const [k, v] of Object.entries((o.stringData ?? {}) as Record<string, string>)) out[k] = v;
  return out;
}

class Namespace {
  constructor(private readonly objects: Obj[]) {}
  find(kind: 'Secret' | 'ConfigMap', name: string): Record<string, string> | undefined {
    const o = this.objects.find((x) => x.kind === kind && x.metadata?.name === name);
    return o ? objectData(o) : undefined;
  }
}

class PodFailure extends Error {}

/**
 * Writes a Secret/ConfigMap as a folder, one file per key (or per `items`), laid out as the kubelet
 * does: the files in a timestamped folder, `..data` linking to it, and one link per top-level name.
 */
async function materialise(dir: string, data: Record<string, string> | undefined, optional: boolean, items: Obj[] | undefined, what: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  if (!data) {
    if (optional) return dir;
    throw new PodFailure(`${what} not found`);
  }
  const entries = items ? items.map((i) => [i.path as string, data[i.key as string]] as const) : Object.entries(data);
  if (entries.length === 0) return dir;
  const stamp = '..2026_12_01_10_00_00.000000001';
  for (const [file, value] of entries) {
    if (value === undefined) throw new PodFailure(`${what}: key missing`);
    await mkdir(path.dirname(path.join(dir, stamp, file)), { recursive: true });
    await writeFile(path.join(dir, stamp, file), value);
  }
  await symlink(stamp, path.join(dir, '..data'));
  for (const top of new Set(entries.map(([file]) => file.split('/')[0]!))) await symlink(path.join('..data', top), path.join(dir, top));
  return dir;
}

interface Mount {
  mountPath: string;
  hostDir: string;
}

function rewriter(mounts: Mount[]): (value: string) => string {
  const sorted = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  return (value) => {
    for (const m of sorted) {
      if (value === m.mountPath || value.startsWith(m.mountPath + '/')) return m.hostDir + value.slice(m.mountPath.length);
    }
    return value;
  };
}

export interface ContainerResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  termination: string;
  args: string[];
  env: Record<string, string>;
}

async function runContainer(container: Obj, mounts: Mount[], ns: Namespace, podDir: string, opts: RunnerOptions): Promise<ContainerResult> {
  const rewrite = rewriter(mounts);
  const command = container.command as string[] | undefined;
  if (!command || command[0] !== 'model-sync') throw new Error(`container command must be [model-sync], is ${JSON.stringify(command)}`);
  const env: Record<string, string> = {};
  for (const e of (container.env ?? []) as Obj[]) {
    if (typeof e.value === 'string') env[e.name] = rewrite(e.value);
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const value = ns.find('Secret', ref.name)?.[ref.key];
      if (value !== undefined) env[e.name] = value;
      else if (!ref.optional) throw new PodFailure(`CreateContainerConfigError: secret ${ref.name} key ${ref.key}`);
    } else throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e)}`);
  }
  const args = ((container.args ?? []) as string[]).map(rewrite);
  const termination = path.join(podDir, 'termination-log');
  const tmp = mounts.find((m) => m.mountPath === '/tmp');
  const processEnv = cleanEnv({ ...opts.env, ...env, TERMINATION_MESSAGE_PATH: termination, ...(tmp ? { TMPDIR: tmp.hostDir } : {}) });
  const child = spawn(process.execPath, [opts.cli ?? CLI, ...command.slice(1), ...args], { env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const exitCode = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 137)));
  clearTimeout(timer);
  const message = await readFile(termination, 'utf8').catch(() => '');
  return { exitCode, stdout, stderr, termination: message, args, env };
}

/** Replaces every `open…close` expression in the string leaves of a value; unknown names throw. */
function substitute<T>(value: T, pattern: RegExp, lookup: (name: string) => string | undefined, where: string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      return v.replace(pattern, (whole, name: string) => {
        const r = lookup(name.trim());
        if (r === undefined) throw new Error(`${where}: cannot resolve ${whole}`);
        return r;
      });
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** Our `when` expressions: `A == B` or `A != B` after substitution. */
function evaluateArgoWhen(expr: string): boolean {
  const m = /^\s*(.*?)\s*(==|!=)\s*(.*?)\s*$/.exec(expr);
  if (!m) throw new Error(`unsupported when: ${expr}`);
  return m[2] === '==' ? m[1] === m[3] : m[1] !== m[3];
}

/** Our retry expression: `!(asInt(lastRetry.exitCode) in [..])`. */
function argoShouldRetry(expression: string | undefined, exitCode: number): boolean {
  if (expression === undefined) return true;
  const m = /^!\(asInt\(lastRetry\.exitCode\) in \[([\d,\s]*)\]\)$/.exec(expression.trim());
  if (!m) throw new Error(`unsupported retry expression: ${expression}`);
  return !m[1]!.split(',').map((n) => Number(n.trim())).includes(exitCode);
}

// ---------------------------------------------------------------------------------------------
// A batch/v1 Job's pod, as the kubelet starts it from the image

export interface JobRunInput {
  job: Obj;
  /** The image's ENTRYPOINT and CMD: Kubernetes runs them where the container sets no command / args. */
  image: { entrypoint: string[]; cmd: string[] };
}

export interface JobRun extends ContainerResult {
  /** The argv the container ran (before `model-sync` is replaced by the built CLI). */
  argv: string[];
  /** Host folder of each volume mount, by mount path. */
  mounts: Record<string, string>;
}

/** Runs the first container of the Job's pod once (no retries: the caller looks at one attempt). */
export async function runJob(input: JobRunInput, opts: RunnerOptions): Promise<JobRun> {
  const pod = input.job.spec.template.spec as Obj;
  const container = (pod.containers as Obj[])[0]!;
  // Kubernetes: command replaces ENTRYPOINT (and drops CMD); args alone replace CMD.
  const command = (container.command as string[] | undefined) ?? input.image.entrypoint;
  const args = (container.args as string[] | undefined) ?? (container.command ? [] : input.image.cmd);
  const ns = new Namespace(opts.objects);
  const podDir = await mkdtemp(path.join(opts.root, `pod-${String(input.job.metadata.name)}-`));
  const volumes = new Map<string, string>();
  const mounts: Mount[] = [];
  try {
    for (const v of (pod.volumes ?? []) as Obj[]) {
      const dir = path.join(podDir, 'volumes', v.name);
      if (v.emptyDir) volumes.set(v.name, await materialise(dir, {}, true, undefined, 'emptyDir'));
      else if (v.secret) volumes.set(v.name, await materialise(dir, ns.find('Secret', v.secret.secretName), Boolean(v.secret.optional), v.secret.items, `secret ${v.secret.secretName}`));
      else if (v.configMap) volumes.set(v.name, await materialise(dir, ns.find('ConfigMap', v.configMap.name), Boolean(v.configMap.optional), v.configMap.items, `configmap ${v.configMap.name}`));
      else throw new Error(`job: unsupported volume ${v.name}`);
    }
    for (const m of (container.volumeMounts ?? []) as Obj[]) {
      const hostDir = volumes.get(m.name);
      if (!hostDir) throw new Error(`job: volume '${m.name}' not defined in the pod`);
      mounts.push({ mountPath: m.mountPath, hostDir });
    }
    const result = await runContainer({ ...container, command, args }, mounts, ns, podDir, opts);
    return { ...result, argv: [...command, ...args], mounts: Object.fromEntries(mounts.map((m) => [m.mountPath, m.hostDir])) };
  } catch (err) {
    if (!(err instanceof PodFailure)) throw err;
    return { exitCode: -1, stdout: '', stderr: err.message, termination: err.message, args: [], env: {}, argv: [...command, ...args], mounts: {} };
  }
}

// ---------------------------------------------------------------------------------------------
// Argo

export interface ArgoRunInput {
  /** The WorkflowTemplate (or ClusterWorkflowTemplate) document. */
  template: Obj;
  /** Workflow arguments, as `argo submit --from workflowtemplate/... -p name=value`. */
  parameters: Record<string, string>;
  name?: string;
}

export async function runArgoWorkflowTemplate(input: ArgoRunInput, opts: RunnerOptions): Promise<EngineRun> {
  const spec = input.template.spec as Obj;
  const ns = new Namespace(opts.objects);
  const workflowName = input.name ?? 'model-sync-test';
  const globals: Record<string, string> = { 'workflow.name': workflowName, 'workflow.uid': randomUUID() };
  for (const p of (spec.arguments?.parameters ?? []) as Obj[]) {
    const value = input.parameters[p.name] ?? p.value;
    if (value === undefined) throw new Error(`argo: parameter ${p.name} is required`);
    if (p.enum && !p.enum.includes(value)) throw new Error(`argo: ${p.name}=${value} is not in ${p.enum.join(',')}`);
    globals[`workflow.parameters.${p.name}`] = value;
  }
  for (const k of Object.keys(input.parameters)) {
    if (!(`workflow.parameters.${k}` in globals)) throw new Error(`argo: unknown parameter ${k}`);
  }
  const templates = new Map<string, Obj>((spec.templates as Obj[]).map((t) => [t.name, t]));
  const workspace = await mkdtemp(path.join(opts.root, 'argo-workspace-'));
  const claims = new Map<string, string>();
  for (const c of (spec.volumeClaimTemplates ?? []) as Obj[]) claims.set(c.metadata.name, c.metadata.name === 'workspace' ? workspace : await mkdtemp(path.join(opts.root, 'claim-')));
  const run: EngineRun = { status: 'Succeeded', pods: [], exitPods: [], outputs: {}, skipped: [], workspace };
  const failures: Obj[] = [];
  let podCounter = 0;

  const runLeaf = async (stepName: string, t: Obj, args: Record<string, string>, into: PodRun[]): Promise<{ ok: boolean; outputs: Record<string, string> }> => {
    const inputs: Record<string, string> = {};
    for (const p of (t.inputs?.parameters ?? []) as Obj[]) {
      const v = args[p.name] ?? p.value ?? p.default;
      if (v === undefined) throw new Error(`argo ${t.name}: input ${p.name} not given`);
      inputs[`inputs.parameters.${p.name}`] = String(v);
    }
    const resolved = substitute(t, /\{\{([^{}]+)\}\}/g, (n) => inputs[n] ?? globals[n], `argo template ${t.name}`);
    const limit = Number(resolved.retryStrategy?.limit ?? 0);
    for (let attempt = 0; ; attempt++) {
      const podDir = await mkdtemp(path.join(opts.root, `pod-${++podCounter}-${t.name}-`));
      const mounts: Mount[] = [];
      let result: ContainerResult;
      try {
        const volumes = new Map<string, string>();
        for (const [name, dir] of claims) volumes.set(name, dir);
        for (const v of [...((spec.volumes ?? []) as Obj[]), ...((resolved.volumes ?? []) as Obj[])]) {
          const dir = path.join(podDir, 'volumes', v.name);
          if (v.emptyDir) volumes.set(v.name, await materialise(dir, {}, true, undefined, 'emptyDir'));
          else if (v.secret) volumes.set(v.name, await materialise(dir, ns.find('Secret', v.secret.secretName), Boolean(v.secret.optional), v.secret.items, `secret ${v.secret.secretName}`));
          else if (v.configMap) volumes.set(v.name, await materialise(dir, ns.find('ConfigMap', v.configMap.name), Boolean(v.configMap.optional), v.configMap.items, `configmap ${v.configMap.name}`));
          else throw new Error(`argo ${t.name}: unsupported volume ${v.name}`);
        }
        for (const m of (resolved.container.volumeMounts ?? []) as Obj[]) {
          const hostDir = volumes.get(m.name);
          if (!hostDir) throw new Error(`argo ${t.name}: volume '${m.name}' not found in workflow spec`);
          mounts.push({ mountPath: m.mountPath, hostDir });
        }
        result = await runContainer(resolved.container, mounts, ns, podDir, opts);
      } catch (err) {
        if (!(err instanceof PodFailure)) throw err;
        result = { exitCode: -1, stdout: '', stderr: err.message, termination: err.message, args: [], env: {} };
      }
      const outputs: Record<string, string> = {};
      if (result.exitCode === 0) {
        const rewrite = rewriter(mounts);
        for (const o of (resolved.outputs?.parameters ?? []) as Obj[]) {
          const file = rewrite(o.valueFrom.path);
          const text = await readFile(file, 'utf8').catch(() => undefined);
          if (text === undefined && o.valueFrom.default === undefined) throw new Error(`argo ${t.name}: output ${o.name} missing at ${o.valueFrom.path}`);
          outputs[o.name] = text === undefined ? String(o.valueFrom.default) : text.replace(/\n$/, '');
          if (o.globalName) globals[`workflow.outputs.parameters.${o.globalName}`] = outputs[o.name]!;
        }
      }
      into.push({ name: stepName, template: t.name, attempt, ...result, outputs });
      if (result.exitCode === 0) return { ok: true, outputs };
      if (attempt >= limit || !argoShouldRetry(resolved.retryStrategy?.expression, result.exitCode)) {
        failures.push({
          displayName: stepName,
          message: `Error (exit code ${result.exitCode}): ${result.termination}`,
          templateName: t.name,
          phase: 'Failed',
          podName: `${workflowName}-${t.name}-${podCounter}`,
          finishedAt: new Date().toISOString(),
        });
        return { ok: false, outputs };
      }
    }
  };

  const runSteps = async (t: Obj, into: PodRun[]): Promise<boolean> => {
    const stepOutputs: Record<string, string> = {};
    for (const group of t.steps as Obj[][]) {
      for (const s of group) {
        const lookup = (n: string) => stepOutputs[n] ?? globals[n];
        const step = substitute(s, /\{\{([^{}]+)\}\}/g, lookup, `argo step ${s.name}`);
        if (step.templateRef && step.templateRef.name !== input.template.metadata.name) throw new Error(`templateRef ${step.templateRef.name} unknown`);
        const target = templates.get(step.templateRef?.template ?? step.template);
        if (!target) throw new Error(`argo: template ${step.template} not found`);
        if (step.when !== undefined && !evaluateArgoWhen(step.when)) {
          run.skipped.push(s.name);
          for (const o of (target.outputs?.parameters ?? []) as Obj[]) {
            if (o.valueFrom?.default !== undefined) stepOutputs[`steps.${s.name}.outputs.parameters.${o.name}`] = String(o.valueFrom.default);
          }
          continue;
        }
        const args = Object.fromEntries(((step.arguments?.parameters ?? []) as Obj[]).map((p) => [p.name, String(p.value)]));
        const ok = target.container ? (await runLeaf(s.name, target, args, into)) : { ok: await runSteps(target, into), outputs: {} };
        for (const [k, v] of Object.entries(ok.outputs)) stepOutputs[`steps.${s.name}.outputs.parameters.${k}`] = v;
        if (!ok.ok) return false;
      }
    }
    return true;
  };

  const entry = templates.get(spec.entrypoint);
  if (!entry) throw new Error(`argo: entrypoint ${spec.entrypoint} not found`);
  run.status = (await runSteps(entry, run.pods)) ? 'Succeeded' : 'Failed';
  if (spec.onExit) {
    globals['workflow.status'] = run.status;
    globals['workflow.failures'] = JSON.stringify(failures);
    await runSteps(templates.get(spec.onExit)!, run.exitPods);
  }
  for (const [k, v] of Object.entries(globals)) if (k.startsWith('workflow.outputs.parameters.')) run.outputs[k.slice('workflow.outputs.parameters.'.length)] = v;
  return run;
}

// ---------------------------------------------------------------------------------------------
// Tekton

export type WorkspaceBinding =
  | { volumeClaimTemplate: true }
  | { emptyDir: true }
  | { secret: string }
  | { configMap: string };

export interface TektonRunInput {
  pipeline: Obj;
  tasks: Obj[];
  params: Record<string, string>;
  workspaces: Record<string, WorkspaceBinding>;
  name?: string;
}

const TEKTON_RESULTS = '/tekton/results';
const MAX_RESULTS_BYTES = 4096;

export async function runTektonPipeline(input: TektonRunInput, opts: RunnerOptions): Promise<EngineRun> {
  const spec = input.pipeline.spec as Obj;
  const ns = new Namespace(opts.objects);
  const runName = input.name ?? 'model-sync-test';
  const tasks = new Map<string, Obj>(input.tasks.map((t) => [t.metadata.name, t]));
  const vars: Record<string, string> = { 'context.pipelineRun.name': runName };
  for (const p of (spec.params ?? []) as Obj[]) {
    const v = input.params[p.name] ?? p.default;
    if (v === undefined) throw new Error(`tekton: pipeline param ${p.name} is required`);
    vars[`params.${p.name}`] = String(v);
  }
  for (const k of Object.keys(input.params)) if (!(`params.${k}` in vars)) throw new Error(`tekton: unknown pipeline param ${k}`);
  const workspace = await mkdtemp(path.join(opts.root, 'tekton-workspace-'));
  const shared = new Map<string, string>();
  for (const w of (spec.workspaces ?? []) as Obj[]) {
    const b = input.workspaces[w.name];
    if (!b && !w.optional) throw new Error(`tekton: workspace ${w.name} not bound`);
    if (b && 'volumeClaimTemplate' in b) shared.set(w.name, shared.size === 0 ? workspace : await mkdtemp(path.join(opts.root, 'pvc-')));
  }
  const run: EngineRun = { status: 'Succeeded', pods: [], exitPods: [], outputs: {}, skipped: [], workspace };
  const status: Record<string, 'Succeeded' | 'Failed' | 'None'> = {};
  let podCounter = 0;

  const runTask = async (pt: Obj, into: PodRun[]): Promise<boolean> => {
    const task = tasks.get(pt.taskRef.name);
    if (!task) throw new Error(`tekton: Task ${pt.taskRef.name} not found`);
    const given = Object.fromEntries(((pt.params ?? []) as Obj[]).map((p) => [p.name, String(p.value)]));
    const taskVars: Record<string, string> = { 'context.taskRun.name': `${runName}-${pt.name}` };
    for (const k of Object.keys(given)) if (!(task.spec.params as Obj[]).some((p) => p.name === k)) throw new Error(`tekton ${pt.name}: Task has no param ${k}`);
    for (const p of (task.spec.params ?? []) as Obj[]) {
      const v = given[p.name] ?? p.default;
      if (v === undefined) throw new Error(`tekton ${pt.name}: param ${p.name} not given`);
      taskVars[`params.${p.name}`] = String(v);
    }
    for (const r of (task.spec.results ?? []) as Obj[]) taskVars[`results.${r.name}.path`] = `${TEKTON_RESULTS}/${r.name}`;
    for (let attempt = 0; ; attempt++) {
      const podDir = await mkdtemp(path.join(opts.root, `pod-${++podCounter}-${pt.name}-`));
      const mounts: Mount[] = [];
      const resultsDir = path.join(podDir, 'tekton-results');
      await mkdir(resultsDir, { recursive: true });
      mounts.push({ mountPath: TEKTON_RESULTS, hostDir: resultsDir });
      let result: ContainerResult | undefined;
      try {
        for (const w of (task.spec.workspaces ?? []) as Obj[]) {
          const mountPath = w.mountPath ?? `/workspace/${w.name}`;
          const bindingName = ((pt.workspaces ?? []) as Obj[]).find((b) => b.name === w.name)?.workspace;
          const binding = bindingName ? input.workspaces[bindingName] : undefined;
          taskVars[`workspaces.${w.name}.bound`] = binding ? 'true' : 'false';
          taskVars[`workspaces.${w.name}.path`] = binding ? mountPath : '';
          if (!binding) {
            if (!w.optional) throw new Error(`tekton ${pt.name}: workspace ${w.name} not bound`);
            continue;
          }
          const dir = path.join(podDir, 'workspaces', w.name);
          let hostDir: string;
          if ('volumeClaimTemplate' in binding) hostDir = shared.get(bindingName!)!;
          else if ('emptyDir' in binding) hostDir = await materialise(dir, {}, true, undefined, 'emptyDir');
          else if ('secret' in binding) hostDir = await materialise(dir, ns.find('Secret', binding.secret), false, undefined, `secret ${binding.secret}`);
          else hostDir = await materialise(dir, ns.find('ConfigMap', binding.configMap), false, undefined, `configmap ${binding.configMap}`);
          mounts.push({ mountPath, hostDir });
        }
        // Tekton substitutes in steps, stepTemplate and volumes (not in descriptions).
        const resolved = substitute(
          { steps: task.spec.steps, stepTemplate: task.spec.stepTemplate, volumes: task.spec.volumes },
          /\$\(([^()]+)\)/g,
          (n) => taskVars[n],
          `tekton task ${pt.name}`,
        ) as Obj;
        const volumes = new Map<string, string>();
        for (const v of (resolved.volumes ?? []) as Obj[]) {
          if (!v.emptyDir) throw new Error(`tekton ${pt.name}: unsupported volume ${v.name}`);
          volumes.set(v.name, await materialise(path.join(podDir, 'volumes', v.name), {}, true, undefined, 'emptyDir'));
        }
        for (const s of resolved.steps as Obj[]) {
          const container = { ...s, env: [...((resolved.stepTemplate?.env ?? []) as Obj[]), ...((s.env ?? []) as Obj[])] };
          const stepMounts = [...mounts];
          for (const m of (s.volumeMounts ?? []) as Obj[]) {
            const hostDir = volumes.get(m.name);
            if (!hostDir) throw new Error(`tekton ${pt.name}: volume ${m.name} not declared`);
            stepMounts.push({ mountPath: m.mountPath, hostDir });
          }
          result = await runContainer(container, stepMounts, ns, podDir, opts);
          if (result.exitCode !== 0) break;
        }
      } catch (err) {
        if (!(err instanceof PodFailure)) throw err;
        result = { exitCode: -1, stdout: '', stderr: err.message, termination: err.message, args: [], env: {} };
      }
      const outputs: Record<string, string> = {};
      let exitCode = result!.exitCode;
      if (exitCode === 0) {
        let bytes = 0;
        for (const r of (task.spec.results ?? []) as Obj[]) {
          const text = await readFile(path.join(resultsDir, r.name), 'utf8').catch(() => undefined);
          if (text === undefined) continue;
          outputs[r.name] = text;
          bytes += Buffer.byteLength(r.name) + Buffer.byteLength(text);
        }
        if (bytes > MAX_RESULTS_BYTES) exitCode = -2; // Termination message is above max allowed size 4096
      }
      into.push({ name: pt.name, template: task.metadata.name, attempt, ...result!, exitCode, outputs });
      if (exitCode === 0) {
        for (const [k, v] of Object.entries(outputs)) vars[`tasks.${pt.name}.results.${k}`] = v;
        return true;
      }
      if (attempt >= Number(pt.retries ?? 0)) return false;
    }
  };

  const whenHolds = (pt: Obj): boolean =>
    ((pt.when ?? []) as Obj[]).every((w) => {
      const inputValue = substitute(String(w.input), /\$\(([^()]+)\)/g, (n) => vars[n], `tekton when of ${pt.name}`);
      const inValues = (w.values as string[]).includes(inputValue);
      if (w.operator === 'in') return inValues;
      if (w.operator === 'notin') return !inValues;
      throw new Error(`tekton: unsupported when operator ${w.operator}`);
    });

  // Tasks run once their runAfter tasks and the tasks whose results they read have settled.
  const pending = [...(spec.tasks as Obj[])];
  let failed = false;
  while (pending.length) {
    const index = pending.findIndex((pt) => {
      const deps = new Set<string>([...((pt.runAfter ?? []) as string[]), ...[...JSON.stringify(pt).matchAll(/\$\(tasks\.([\w-]+)\.results\./g)].map((m) => m[1]!)]);
      return [...deps].every((d) => status[d] !== undefined);
    });
    if (index < 0) throw new Error('tekton: dependency cycle or unknown task in runAfter');
    const pt = pending.splice(index, 1)[0]!;
    if (failed) {
      status[pt.name] = 'None'; // no new task starts after a failure
      continue;
    }
    const readsSkipped = [...JSON.stringify(pt).matchAll(/\$\(tasks\.([\w-]+)\.results\./g)].some((m) => status[m[1]!] !== 'Succeeded');
    if (readsSkipped || !whenHolds(pt)) {
      status[pt.name] = 'None';
      run.skipped.push(pt.name);
      continue;
    }
    const params = substitute(pt.params ?? [], /\$\(([^()]+)\)/g, (n) => vars[n], `tekton params of ${pt.name}`);
    const ok = await runTask({ ...pt, params }, run.pods);
    status[pt.name] = ok ? 'Succeeded' : 'Failed';
    if (!ok) failed = true;
  }
  const all = Object.values(status);
  run.status = failed ? 'Failed' : 'Succeeded';
  vars['tasks.status'] = failed ? 'Failed' : all.includes('None') ? 'Completed' : 'Succeeded';
  for (const [t, s] of Object.entries(status)) vars[`tasks.${t}.status`] = s;
  for (const ft of (spec.finally ?? []) as Obj[]) {
    if (/\$\(tasks\.[\w-]+\.results\./.test(JSON.stringify(ft)) && failed) {
      run.skipped.push(ft.name);
      continue;
    }
    if (!whenHolds(ft)) {
      run.skipped.push(ft.name);
      continue;
    }
    const params = substitute(ft.params ?? [], /\$\(([^()]+)\)/g, (n) => vars[n], `tekton params of ${ft.name}`);
    await runTask({ ...ft, params }, run.exitPods);
  }
  if (!failed) {
    for (const r of (spec.results ?? []) as Obj[]) run.outputs[r.name] = substitute(String(r.value), /\$\(([^()]+)\)/g, (n) => vars[n], `pipeline result ${r.name}`);
  }
  return run;
}
