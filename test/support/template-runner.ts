// A small interpreter for our generated Argo WorkflowTemplate and Tekton Pipeline: it resolves
// parameters the way the engines do, materialises Secret/ConfigMap/emptyDir/workspace volumes as
// temp folders (mount paths in env and args are rewritten to them), runs each container's
// command+args+env as a local process with the BUILT CLI in place of `model-sync`, passes output
// parameters / results between steps, evaluates the simple `when`s, honours retries, and runs the
// exit handler / finally tasks. It covers what our templates use, and throws on anything else.
// Fan-out: an Argo step's `withParam`/`withItems` and a Tekton pipeline task's `matrix` start one
// process per item at the same time (Argo `parallelism` caps them), and aggregate outputs/results
// into JSON lists as the engines do. Each process's pid and interval are recorded, so that tests
// can tell that the items ran at the same time.
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
  /** Position in a fan-out (Argo loop item, Tekton matrix combination); absent otherwise. */
  index?: number;
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
  /** When the process started and ended (ms since the epoch) and its pid: absent when no process ran. */
  startedAt?: number;
  endedAt?: number;
  pid?: number;
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
  const startedAt = Date.now();
  const child = spawn(process.execPath, [opts.cli ?? CLI, ...command.slice(1), ...args], { env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const exitCode = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 137)));
  const endedAt = Date.now();
  clearTimeout(timer);
  const message = await readFile(termination, 'utf8').catch(() => '');
  return { exitCode, stdout, stderr, termination: message, args, env, startedAt, endedAt, ...(child.pid === undefined ? {} : { pid: child.pid }) };
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

/** Runs at most `limit` of the functions given to it at a time (Argo `parallelism`). */
function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Argo v4 types `parallelism` as an integer (no `{{…}}`): anything else is refused as the CRD would. */
function argoParallelism(value: unknown, where: string): number {
  if (value === undefined) return Infinity;
  if (!Number.isInteger(value) || (value as number) < 1) throw new Error(`argo ${where}: parallelism must be a positive integer, is ${JSON.stringify(value)}`);
  return value as number;
}

/** `{{item}}` and `{{item.<key>}}` of one loop item: strings as they are, anything else as JSON. */
function itemVars(item: unknown): Record<string, string> {
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const vars: Record<string, string> = { item: text(item) };
  if (item && typeof item === 'object' && !Array.isArray(item)) for (const [k, v] of Object.entries(item)) vars[`item.${k}`] = text(v);
  return vars;
}

/** The value of a `$(name[*])` reference, alone in its string: an array of strings. */
function tektonArray(ref: string, lookup: (name: string) => string[] | undefined, where: string): string[] | undefined {
  const m = /^\$\(([^()]+)\[\*\]\)$/.exec(ref.trim());
  if (!m) return undefined;
  const values = lookup(m[1]!);
  if (!values) throw new Error(`${where}: cannot resolve ${ref} as an array`);
  return values;
}

/** Splices `$(x[*])` array elements of string lists in place, as Tekton does for array params. */
function expandTektonArrays<T>(value: T, lookup: (name: string) => string[] | undefined, where: string): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.flatMap((x) => (typeof x === 'string' ? (tektonArray(x, lookup, where) ?? [x]) : [walk(x)]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** Matrix combinations: the cartesian product of `params` (first param slowest), then `include`. */
function matrixCombinations(params: [string, string[]][], include: [string, string][][]): Record<string, string>[] {
  let combos: Record<string, string>[] = params.length ? [{}] : [];
  for (const [name, values] of params) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
  const matrixNames = new Set(params.map(([n]) => n));
  const originals = combos.length;
  for (const entry of include) {
    const fixed = entry.filter(([n]) => matrixNames.has(n));
    const matches = combos.slice(0, originals).filter((c) => fixed.every(([n, v]) => c[n] === v));
    if (matches.length === 0) combos.push(Object.fromEntries(entry));
    // An include never overrides a value the matrix generated; it adds the other params.
    for (const c of matches) for (const [n, v] of entry) if (!matrixNames.has(n)) c[n] = v;
  }
  return combos;
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

/** One child of an Argo loop: Argo names its node `step(index:item)`. */
interface LoopChild {
  index: number;
  label: string;
}

interface StepResult {
  ok: boolean;
  outputs: Record<string, string>;
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
  // Workflow-level parallelism counts pods; a steps template's own caps its loop's children.
  const workflowSlot = limiter(argoParallelism(spec.parallelism, 'workflow'));

  const runLeaf = (stepName: string, t: Obj, args: Record<string, string>, into: PodRun[], fan?: LoopChild) => workflowSlot(() => runPod(stepName, t, args, into, fan));
  const runPod = async (stepName: string, t: Obj, args: Record<string, string>, into: PodRun[], fan?: LoopChild): Promise<StepResult> => {
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
      into.push({ name: stepName, template: t.name, attempt, ...result, outputs, ...(fan ? { index: fan.index } : {}) });
      if (result.exitCode === 0) return { ok: true, outputs };
      if (attempt >= limit || !argoShouldRetry(resolved.retryStrategy?.expression, result.exitCode)) {
        failures.push({
          displayName: fan ? `${stepName}(${fan.index}:${fan.label})` : stepName,
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
    const lookup = (n: string) => stepOutputs[n] ?? globals[n];
    const childSlot = limiter(argoParallelism(t.parallelism, `template ${t.name}`));

    // One step, or one loop child with its item's variables; a false `when` skips it.
    const runStep = async (s: Obj, vars: Record<string, string>, fan?: LoopChild): Promise<StepResult & { skipped: boolean }> => {
      const { withParam: _param, withItems: _items, ...plain } = s;
      const step = substitute(plain, /\{\{([^{}]+)\}\}/g, (n) => vars[n] ?? lookup(n), `argo step ${s.name}`);
      if (step.templateRef && step.templateRef.name !== input.template.metadata.name) throw new Error(`templateRef ${step.templateRef.name} unknown`);
      const target = templates.get(step.templateRef?.template ?? step.template);
      if (!target) throw new Error(`argo: template ${step.template} not found`);
      if (step.when !== undefined && !evaluateArgoWhen(step.when)) {
        const defaults: Record<string, string> = {};
        for (const o of (target.outputs?.parameters ?? []) as Obj[]) if (o.valueFrom?.default !== undefined) defaults[o.name] = String(o.valueFrom.default);
        return { ok: true, outputs: defaults, skipped: true };
      }
      const args = Object.fromEntries(((step.arguments?.parameters ?? []) as Obj[]).map((p) => [p.name, String(p.value)]));
      const result = target.container ? await runLeaf(s.name, target, args, into, fan) : { ok: await runSteps(target, into), outputs: {} };
      return { ...result, skipped: false };
    };

    const loopItems = (s: Obj): unknown[] => {
      if (s.withItems !== undefined) {
        if (!Array.isArray(s.withItems)) throw new Error(`argo step ${s.name}: withItems must be a list`);
        return substitute(s.withItems as unknown[], /\{\{([^{}]+)\}\}/g, lookup, `argo withItems of ${s.name}`);
      }
      const text = substitute(String(s.withParam), /\{\{([^{}]+)\}\}/g, lookup, `argo withParam of ${s.name}`);
      let items: unknown;
      try {
        items = JSON.parse(text);
      } catch {
        items = undefined;
      }
      if (!Array.isArray(items)) throw new Error(`argo step ${s.name}: withParam is not a JSON list: ${text}`);
      return items;
    };

    for (const group of t.steps as Obj[][]) {
      for (const s of group) {
        if (s.withParam === undefined && s.withItems === undefined) {
          const result = await runStep(s, {});
          if (result.skipped) run.skipped.push(s.name);
          for (const [k, v] of Object.entries(result.outputs)) stepOutputs[`steps.${s.name}.outputs.parameters.${k}`] = v;
          if (!result.ok) return false;
          continue;
        }
        // Every child runs (at most `parallelism` at a time) and ends before the step's phase is known.
        const children = loopItems(s).map((item, index) => ({ vars: itemVars(item), index }));
        const results = await Promise.all(children.map((c) => childSlot(() => runStep(s, c.vars, { index: c.index, label: c.vars.item! }))));
        results.forEach((r, i) => r.skipped && run.skipped.push(`${s.name}(${i}:${children[i]!.vars.item})`));
        // Argo aggregates a loop's outputs in item order: each parameter as a JSON list of values,
        // and `outputs.parameters` as a JSON list of each child's parameter map.
        const ran = results.filter((r) => !r.skipped);
        for (const name of new Set(ran.flatMap((r) => Object.keys(r.outputs)))) {
          stepOutputs[`steps.${s.name}.outputs.parameters.${name}`] = JSON.stringify(ran.flatMap((r) => (name in r.outputs ? [r.outputs[name]] : [])));
        }
        stepOutputs[`steps.${s.name}.outputs.parameters`] = JSON.stringify(ran.map((r) => r.outputs));
        if (results.some((r) => !r.ok)) return false;
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
  // Array values (array params, results of matrixed tasks), read through `$(name[*])`.
  const arrays: Record<string, string[]> = {};
  for (const p of (spec.params ?? []) as Obj[]) {
    const v = input.params[p.name] ?? p.default;
    if (v === undefined) throw new Error(`tekton: pipeline param ${p.name} is required`);
    if (Array.isArray(v)) arrays[`params.${p.name}`] = v.map(String);
    else vars[`params.${p.name}`] = String(v);
  }
  const arrayOf = (n: string): string[] | undefined => {
    if (arrays[n]) return arrays[n];
    let parsed: unknown;
    try {
      parsed = vars[n] === undefined ? undefined : JSON.parse(vars[n]!); // an array result's file is a JSON list
    } catch {
      parsed = undefined;
    }
    return Array.isArray(parsed) ? parsed.map(String) : undefined;
  };
  /** Pipeline-task param values: `$(x[*])` alone gives an array, array literals splice them. */
  const resolveParam = (value: unknown, where: string): string | string[] => {
    if (Array.isArray(value)) return substitute(expandTektonArrays(value.map(String), arrayOf, where), /\$\(([^()]+)\)/g, (n) => vars[n], where);
    return tektonArray(String(value), arrayOf, where) ?? substitute(String(value), /\$\(([^()]+)\)/g, (n) => vars[n], where);
  };
  const resolveParams = (list: Obj[] | undefined, where: string): Obj[] => (list ?? []).map((p) => ({ ...p, value: resolveParam(p.value, where) }));
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

  /** One TaskRun (`index`: its matrix combination); params already resolved. */
  const runTask = async (pt: Obj, into: PodRun[], index?: number): Promise<{ ok: boolean; outputs: Record<string, string> }> => {
    const task = tasks.get(pt.taskRef.name);
    if (!task) throw new Error(`tekton: Task ${pt.taskRef.name} not found`);
    const given = Object.fromEntries(((pt.params ?? []) as Obj[]).map((p) => [p.name, Array.isArray(p.value) ? (p.value as unknown[]).map(String) : String(p.value)]));
    const taskVars: Record<string, string> = { 'context.taskRun.name': index === undefined ? `${runName}-${pt.name}` : `${runName}-${pt.name}-${index}` };
    const taskArrays: Record<string, string[]> = {};
    for (const k of Object.keys(given)) if (!(task.spec.params as Obj[]).some((p) => p.name === k)) throw new Error(`tekton ${pt.name}: Task has no param ${k}`);
    for (const p of (task.spec.params ?? []) as Obj[]) {
      const v = given[p.name] ?? p.default;
      if (v === undefined) throw new Error(`tekton ${pt.name}: param ${p.name} not given`);
      if (Array.isArray(v)) taskArrays[`params.${p.name}`] = v.map(String);
      else taskVars[`params.${p.name}`] = String(v);
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
          expandTektonArrays({ steps: task.spec.steps, stepTemplate: task.spec.stepTemplate, volumes: task.spec.volumes }, (n) => taskArrays[n], `tekton task ${pt.name}`),
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
      into.push({ name: pt.name, template: task.metadata.name, attempt, ...result!, exitCode, outputs, ...(index === undefined ? {} : { index }) });
      if (exitCode === 0) return { ok: true, outputs };
      if (attempt >= Number(pt.retries ?? 0)) return { ok: false, outputs };
    }
  };

  // A matrixed task: one TaskRun per combination, all at once; it fails when any fails (after all
  // ended), and each result becomes an array result in combination order.
  const runMatrix = async (pt: Obj): Promise<boolean> => {
    const where = `tekton matrix of ${pt.name}`;
    const params = ((pt.matrix.params ?? []) as Obj[]).map((p) => {
      const values = resolveParam(p.value, where);
      if (!Array.isArray(values)) throw new Error(`${where}: param ${p.name} must be an array`);
      return [p.name as string, values] as [string, string[]];
    });
    const include = ((pt.matrix.include ?? []) as Obj[]).map((e) => ((e.params ?? []) as Obj[]).map((p) => [p.name as string, String(resolveParam(p.value, where))] as [string, string]));
    const combos = matrixCombinations(params, include);
    const results = await Promise.all(
      combos.map((combo, index) => runTask({ ...pt, params: [...(pt.params as Obj[]), ...Object.entries(combo).map(([name, value]) => ({ name, value }))] }, run.pods, index)),
    );
    if (results.some((r) => !r.ok)) return false;
    for (const name of new Set(results.flatMap((r) => Object.keys(r.outputs)))) {
      const values = results.flatMap((r) => (name in r.outputs ? [r.outputs[name]!] : []));
      arrays[`tasks.${pt.name}.results.${name}`] = values;
      vars[`tasks.${pt.name}.results.${name}`] = JSON.stringify(values);
    }
    return true;
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
    const params = resolveParams(pt.params, `tekton params of ${pt.name}`);
    const ok = pt.matrix ? await runMatrix({ ...pt, params }) : await runTask({ ...pt, params }, run.pods).then((r) => {
      for (const [k, v] of Object.entries(r.outputs)) if (r.ok) vars[`tasks.${pt.name}.results.${k}`] = v;
      return r.ok;
    });
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
    const params = resolveParams(ft.params, `tekton params of ${ft.name}`);
    await runTask({ ...ft, params }, run.exitPods);
  }
  if (!failed) {
    for (const r of (spec.results ?? []) as Obj[]) run.outputs[r.name] = substitute(String(r.value), /\$\(([^()]+)\)/g, (n) => vars[n], `pipeline result ${r.name}`);
  }
  return run;
}
