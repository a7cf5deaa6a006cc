// Our own reference checks over the generated YAML, the ones no schema can make: every parameter,
// workspace, result, volume and template referenced is declared; no templated quantities; command
// set; no Tekton param enum; retries never on bad-input exit codes; UI labels present; no service
// link variables in any pod we ship (the samples/bff/ Jobs reproduce the UI's Jobs and are checked in
// test/bff-jobs.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NON_RETRYABLE_EXIT_CODES } from '../src/errors.js';
import { BFF_LABELS, PARTS_AT_ONCE, REGISTRY_NAME_PARAM, UI_LABELS, packageVersion } from '../scripts/lib/templates/common.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../dev/cli.js';
import { loadTemplateDocs } from './support/template-schemas.js';
import { catalogFolder, catalogVersion } from '../scripts/lib/templates/catalog-layout.js';

type Obj = Record<string, any>;
// The catalog's tests/ runs are checked in test/tekton-catalog.test.ts (and validated with the rest).
const docs = loadTemplateDocs().filter((d) => !d.file.includes('/tests/'));
const ofKind = (kind: string) => docs.filter((d) => d.doc.kind === kind);
const one = (kind: string, name?: string) => ofKind(kind).find((d) => !name || d.doc.metadata?.name === name)!.doc as Obj;

function refs(value: unknown, re: RegExp): string[] {
  return [...JSON.stringify(value ?? null).matchAll(re)].map((m) => m[1]!);
}

const argoTemplates = [...ofKind('WorkflowTemplate'), ...ofKind('ClusterWorkflowTemplate')];
/** Our Jobs; samples/bff/ holds the Model Registry UI's Jobs as it builds them. */
const isBffSample = (file: string) => file.startsWith('samples/bff/');
const ourJobs = ofKind('Job').filter((d) => !isBffSample(d.file));
const argoWorkflows = ofKind('Workflow');
const library = one('WorkflowTemplate', 'model-sync');
const libraryTemplates = new Map<string, Obj>((library.spec.templates as Obj[]).map((t) => [t.name, t]));

test('argo: template parameters referenced are declared (inputs, workflow arguments, earlier step outputs)', () => {
  for (const { file, doc } of [...argoTemplates, ...argoWorkflows]) {
    const spec = doc.spec as Obj;
    const declaredWorkflow = new Set((spec.arguments?.parameters ?? []).map((p: Obj) => p.name));
    if (spec.workflowTemplateRef) {
      if (spec.entrypoint) assert.ok(libraryTemplates.get(spec.entrypoint)?.steps, `${file}: entrypoint ${spec.entrypoint} is no steps template of the WorkflowTemplate`);
      for (const p of declaredWorkflow) assert.ok(library.spec.arguments.parameters.some((q: Obj) => q.name === p), `${file}: argument ${String(p)} unknown to the template`);
      for (const q of library.spec.arguments.parameters as Obj[]) {
        if (q.value === undefined) assert.ok(declaredWorkflow.has(q.name), `${file}: required argument ${q.name} missing`);
      }
      continue;
    }
    for (const p of refs(spec, /\{\{workflow\.parameters\.([\w.-]+)\}\}/g)) assert.ok(declaredWorkflow.has(p), `${file}: workflow.parameters.${p} not declared`);
    const local = new Map<string, Obj>((spec.templates as Obj[]).map((t) => [t.name, t]));
    const resolve = (step: Obj): Obj => {
      if (step.templateRef) {
        assert.equal(step.templateRef.name, 'model-sync', `${file}: templateRef to ${step.templateRef.name}`);
        const target = libraryTemplates.get(step.templateRef.template);
        assert.ok(target, `${file}: templateRef template ${step.templateRef.template} does not exist`);
        return target;
      }
      const target = local.get(step.template);
      assert.ok(target, `${file}: template ${step.template} does not exist`);
      return target;
    };
    assert.ok(local.has(spec.entrypoint), `${file}: entrypoint ${spec.entrypoint}`);
    if (spec.onExit) assert.ok(local.has(spec.onExit), `${file}: onExit ${spec.onExit}`);
    for (const t of spec.templates as Obj[]) {
      const inputs = new Set((t.inputs?.parameters ?? []).map((p: Obj) => p.name));
      for (const p of refs(t, /\{\{inputs\.parameters\.([\w.-]+)\}\}/g)) assert.ok(inputs.has(p), `${file} ${t.name}: inputs.parameters.${p} not declared`);
      if (!t.steps) continue;
      const earlier = new Map<string, { target: Obj; optional: boolean }>();
      for (const group of t.steps as Obj[][]) {
        for (const s of group) {
          const target = resolve(s);
          for (const m of JSON.stringify(s).matchAll(/\{\{steps\.([\w-]+)\.outputs\.parameters\.([\w-]+)\}\}/g)) {
            const from = earlier.get(m[1]!);
            assert.ok(from, `${file} ${t.name}/${s.name}: reads outputs of ${m[1]} which does not run before`);
            const out = (from.target.outputs?.parameters ?? []).find((o: Obj) => o.name === m[2]);
            assert.ok(out, `${file}: ${m[1]} has no output ${m[2]}`);
            if (from.optional) assert.ok(out.valueFrom?.default !== undefined, `${file}: output ${m[2]} of optional ${m[1]} needs a default`);
          }
          const given = new Set((s.arguments?.parameters ?? []).map((p: Obj) => p.name));
          for (const p of given) assert.ok((target.inputs?.parameters ?? []).some((q: Obj) => q.name === p), `${file} ${s.name}: passes unknown parameter ${String(p)}`);
          for (const q of target.inputs?.parameters ?? []) {
            if (q.default === undefined && q.value === undefined) assert.ok(given.has(q.name), `${file} ${s.name}: required input ${q.name} not passed`);
          }
        }
        for (const s of group) earlier.set(s.name, { target: resolve(s), optional: Boolean(s.when) });
      }
    }
  }
});

test('argo: every volume mounted is defined; leaves need only `workspace` from the caller, who declares it', () => {
  for (const { file, doc } of [...argoTemplates, ...argoWorkflows]) {
    const spec = doc.spec as Obj;
    const specVolumes = new Set([...(spec.volumes ?? []), ...(spec.volumeClaimTemplates ?? [])].map((v: Obj) => v.name ?? v.metadata?.name));
    if (spec.workflowTemplateRef) continue;
    const callsLeaves = JSON.stringify(spec).includes('templateRef') || spec.templates.some((t: Obj) => t.container);
    if (callsLeaves) assert.ok(specVolumes.has('workspace'), `${file}: must declare the volume workspace`);
    for (const t of spec.templates as Obj[]) {
      if (!t.container) continue;
      const own = new Set((t.volumes ?? []).map((v: Obj) => v.name));
      for (const m of t.container.volumeMounts ?? []) {
        if (m.name === 'workspace') continue;
        assert.ok(own.has(m.name), `${file} ${t.name}: volume ${m.name} must be a template-level volume (spec volumes do not travel with templateRef)`);
      }
    }
  }
});

test('argo: containers set command, quantities are literal, retries never on bad-input exit codes', () => {
  for (const { file, doc } of argoTemplates) {
    for (const q of [doc.spec.volumeClaimTemplates, ...(doc.spec.templates as Obj[]).map((t) => t.container?.resources)]) {
      assert.ok(!JSON.stringify(q ?? {}).includes('{{'), `${file}: templated quantity ${JSON.stringify(q)}`);
    }
    for (const t of doc.spec.templates as Obj[]) {
      if (!t.container) continue;
      assert.deepEqual(t.container.command, ['model-sync'], `${file} ${t.name}: command`);
      // Each leaf runs its own step; push-part (scale-out) runs push, for one part.
      const stepRun = t.metadata.labels['model-sync/step'];
      assert.equal(t.container.args[0], stepRun, `${file} ${t.name}: runs the step of its label`);
      assert.equal(t.name === 'push-part' ? 'push' : t.name, stepRun, `${file} ${t.name}: runs its own step`);
      assert.ok(!String(t.container.image).endsWith(':latest'));
      const expr = String(t.retryStrategy?.expression ?? '');
      const list = /^!\(asInt\(lastRetry\.exitCode\) in \[([\d, ]+)\]\)$/.exec(expr);
      assert.ok(list, `${file} ${t.name}: retry expression ${expr}`);
      assert.deepEqual(list[1]!.split(',').map((n) => Number(n.trim())), [...NON_RETRYABLE_EXIT_CODES]);
      const sc = t.container.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.deepEqual(sc.capabilities.drop, ['ALL']);
      assert.ok(t.container.volumeMounts.some((m: Obj) => m.mountPath === '/tmp'), `${file} ${t.name}: /tmp must be writable`);
      assert.ok(t.securityContext.runAsNonRoot && Number.isInteger(t.securityContext.runAsUser) && t.securityContext.fsGroup);
      for (const p of t.inputs?.parameters ?? []) if (p.enum && p.default !== undefined) assert.ok(p.enum.includes(p.default), `${file} ${t.name}: ${p.name} default not in enum`);
    }
    for (const p of doc.spec.arguments.parameters as Obj[]) if (p.enum && p.value !== undefined) assert.ok(p.enum.includes(p.value));
    assert.equal(doc.spec.onExit, 'exit-handler');
    const exitStep = (doc.spec.templates as Obj[]).find((t) => t.name === 'exit-handler')!.steps[0][0];
    assert.equal(exitStep.template, 'mark-failed');
    assert.equal(exitStep.when, '{{workflow.status}} != Succeeded');
  }
});

test('argo: the ClusterWorkflowTemplate has the same spec as the WorkflowTemplate', () => {
  const cwt = one('ClusterWorkflowTemplate');
  assert.deepEqual(cwt.spec, library.spec);
});

const tasks = new Map<string, Obj>(ofKind('Task').map((d) => [d.doc.metadata.name, d.doc as Obj]));

test('tekton: params, workspaces and results referenced by each Task are declared; no param enum; command set', () => {
  for (const [name, task] of tasks) {
    const params = new Set(task.spec.params.map((p: Obj) => p.name));
    const ws = new Set(task.spec.workspaces.map((w: Obj) => w.name));
    const results = new Set(task.spec.results.map((r: Obj) => r.name));
    for (const p of task.spec.params) {
      assert.equal(p.enum, undefined, `${name}: param ${p.name} has enum`);
      assert.equal(p.type, 'string');
      assert.ok(p.description, `${name}: ${p.name} has no description`);
    }
    for (const p of refs(task.spec, /\$\(params\.([\w.-]+)\)/g)) assert.ok(params.has(p), `${name}: params.${p}`);
    for (const w of refs(task.spec, /\$\(workspaces\.([\w-]+)\.(?:path|bound)\)/g)) assert.ok(ws.has(w), `${name}: workspaces.${w}`);
    for (const r of refs(task.spec, /\$\(results\.([\w-]+)\.path\)/g)) assert.ok(results.has(r), `${name}: results.${r}`);
    const volumes = new Set((task.spec.volumes ?? []).map((v: Obj) => v.name));
    for (const s of task.spec.steps) {
      assert.deepEqual(s.command, ['model-sync']);
      assert.equal(s.script, undefined);
      assert.ok(s.env.some((e: Obj) => e.name === 'MODEL_SYNC_RESULTS_DIR' && e.value === '/tekton/results'), `${name}: results dir`);
      for (const m of s.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${name}: volume ${m.name}`);
    }
    for (const w of task.spec.workspaces) if (w.name !== 'workspace') assert.ok(w.optional && w.readOnly, `${name}: ${w.name} must be optional and read-only`);
    const a = task.metadata.annotations;
    assert.equal(task.metadata.labels['app.kubernetes.io/version'], catalogVersion(), 'the catalog folder version');
    for (const k of ['tekton.dev/pipelines.minVersion', 'tekton.dev/categories', 'tekton.dev/tags', 'tekton.dev/platforms', 'tekton.dev/displayName']) assert.ok(a[k], `${name}: ${k}`);
  }
});

test('tekton: each Pipeline wires Tasks, params, workspaces and results that exist; finally reads no task results', () => {
  assert.deepEqual(ofKind('Pipeline').map((d) => d.doc.metadata.name).sort(), ['model-sync-pipeline', 'model-sync-pipeline-one-pod', 'model-sync-pipeline-scale-out']);
  for (const { doc } of ofKind('Pipeline')) checkPipeline(doc as Obj);
  const pkg = (one('Pipeline', 'model-sync-pipeline').spec.tasks as Obj[]).find((t) => t.name === 'package')!;
  assert.deepEqual(pkg.when, [{ input: '$(params.destination-type)', operator: 'in', values: ['oci'] }]);
});

function checkPipeline(pipeline: Obj): void {
  const pParams = new Set(pipeline.spec.params.map((p: Obj) => p.name));
  const pWs = new Set(pipeline.spec.workspaces.map((w: Obj) => w.name));
  const all = [...pipeline.spec.tasks, ...pipeline.spec.finally] as Obj[];
  const byName = new Map(all.map((t) => [t.name, t]));
  for (const p of pipeline.spec.params) assert.equal(p.enum, undefined);
  for (const pt of all) {
    const task = tasks.get(pt.taskRef.name);
    assert.ok(task, `pipeline task ${pt.name}: Task ${pt.taskRef.name} not generated`);
    const taskParams = new Map<string, Obj>(task.spec.params.map((p: Obj) => [p.name, p]));
    const matrixParams = (pt.matrix?.params ?? []) as Obj[];
    const given = [...pt.params, ...matrixParams] as Obj[];
    for (const p of given) assert.ok(taskParams.has(p.name), `${pt.name}: Task has no param ${p.name}`);
    // Tekton: a param is in `params` or in `matrix`, not both.
    for (const m of matrixParams) assert.ok(!pt.params.some((q: Obj) => q.name === m.name), `${pt.name}: ${m.name} in params and matrix`);
    for (const [n, p] of taskParams) if (p.default === undefined) assert.ok(given.some((q: Obj) => q.name === n), `${pt.name}: required ${n} not passed`);
    for (const p of refs([pt.params, pt.matrix, pt.when], /\$\(params\.([\w.-]+)\)/g)) assert.ok(pParams.has(p), `${pt.name}: pipeline param ${p}`);
    // A matrix fans out over an array: a whole array result of a task that runs before.
    for (const m of matrixParams) {
      const ref = /^\$\(tasks\.([\w-]+)\.results\.([\w-]+)\[\*\]\)$/.exec(String(m.value));
      assert.ok(ref, `${pt.name}: matrix param ${m.name} = ${JSON.stringify(m.value)} is no whole array result`);
      const from = byName.get(ref[1]!);
      assert.ok(from && (pt.runAfter ?? []).includes(ref[1]), `${pt.name}: matrix reads ${ref[1]}, which must run before`);
      const result = tasks.get(from.taskRef.name)!.spec.results.find((r: Obj) => r.name === ref[2]);
      assert.equal(result?.type, 'array', `${pt.name}: ${ref[1]}.${ref[2]} must be an array result`);
    }
    for (const w of task.spec.workspaces) {
      const bound = pt.workspaces.find((b: Obj) => b.name === w.name);
      if (!w.optional) assert.ok(bound, `${pt.name}: workspace ${w.name} not bound`);
      if (bound) assert.ok(pWs.has(bound.workspace), `${pt.name}: pipeline workspace ${bound.workspace}`);
    }
    for (const m of JSON.stringify(pt).matchAll(/\$\(tasks\.([\w-]+)\.results\.([\w-]+)\)/g)) {
      const from = byName.get(m[1]!);
      assert.ok(from, `${pt.name}: task ${m[1]}`);
      assert.ok(tasks.get(from.taskRef.name)!.spec.results.some((r: Obj) => r.name === m[2]), `${pt.name}: ${m[1]} has no result ${m[2]}`);
      assert.ok((pt.runAfter ?? []).length > 0, `${pt.name}: reads results without running after`);
    }
    for (const r of pt.runAfter ?? []) assert.ok(byName.has(r), `${pt.name}: runAfter ${r}`);
  }
  for (const f of pipeline.spec.finally) {
    assert.ok(!/\$\(tasks\.[\w-]+\.results\./.test(JSON.stringify(f)), 'finally must not read task results');
    assert.deepEqual(f.when, [{ input: '$(tasks.status)', operator: 'in', values: ['Failed'] }]);
  }
  for (const r of pipeline.spec.results) {
    const m = /^\$\(tasks\.([\w-]+)\.results\.([\w-]+)\)$/.exec(r.value)!;
    assert.ok(tasks.get(byName.get(m[1]!)!.taskRef.name)!.spec.results.some((x: Obj) => x.name === m[2]));
  }
  assert.deepEqual((pipeline.spec.finally as Obj[]).map((f) => f.taskRef.name), ['model-sync-mark-failed'], `${pipeline.metadata.name}: finally mark-failed`);
}

test('the one-pod variants run `model-sync all` alone with the stream parameter and the same failure handler', () => {
  // Argo: a steps template beside `main`, selectable as entrypoint; the spec's exit handler applies to it too.
  const onePod = libraryTemplates.get('one-pod')!;
  assert.deepEqual(onePod.steps.map((g: Obj[]) => g.map((s) => s.template)), [['all']]);
  const passed = new Map<string, string>(onePod.steps[0][0].arguments.parameters.map((p: Obj) => [p.name, p.value]));
  assert.equal(passed.get('stream'), '{{workflow.parameters.stream}}');
  const stream = (library.spec.arguments.parameters as Obj[]).find((p) => p.name === 'stream');
  assert.deepEqual([stream?.value, stream?.enum], ['true', ['true', 'false']]);
  assert.equal(libraryTemplates.get('all')!.container.args[0], 'all');
  // The per-step chain does not offer a knob only `all` acts on.
  for (const step of ['preflight', 'fetch', 'package', 'push', 'register', 'mark-failed']) {
    assert.ok(!(libraryTemplates.get(step)!.inputs.parameters as Obj[]).some((p) => p.name === 'stream'), `argo ${step}: no stream input`);
    assert.ok(!(libraryTemplates.get(step)!.container.env as Obj[]).some((e) => e.name === 'MODEL_SYNC_STREAM'), `argo ${step}: no MODEL_SYNC_STREAM`);
  }
  const sample = argoWorkflows.find((d) => d.file === 'samples/argo/workflow-one-pod.yaml')!.doc as Obj;
  assert.equal(sample.spec.entrypoint, 'one-pod');
  assert.equal(sample.spec.volumeClaimTemplates[0].metadata.name, 'workspace');
  assert.ok(sample.spec.arguments.parameters.some((p: Obj) => p.name === 'stream'));
  // Tekton: the all-in-one Task and the finally mark-failed.
  const pipeline = one('Pipeline', 'model-sync-pipeline-one-pod');
  assert.deepEqual((pipeline.spec.tasks as Obj[]).map((t) => t.taskRef.name), ['model-sync']);
  assert.ok((pipeline.spec.tasks[0].params as Obj[]).some((p) => p.name === 'stream' && p.value === '$(params.stream)'));
  assert.equal((pipeline.spec.params as Obj[]).find((p) => p.name === 'stream')?.default, 'true');
  assert.ok(!(one('Pipeline', 'model-sync-pipeline').spec.params as Obj[]).some((p) => p.name === 'stream'), 'the per-step Pipeline has no stream param');
  assert.match(readFileSync(path.join(REPO_ROOT, catalogFolder('pipeline', 'model-sync-pipeline-one-pod'), 'README.md'), 'utf8'), /stream/);
});

test('the scale-out variants: preflight → plan → push per part (withParam / matrix) → assemble → register, parts on workspaces of their own', () => {
  // Argo: a steps template beside `main`, selectable as entrypoint, under the spec's exit handler.
  const scaleOut = libraryTemplates.get('scale-out')!;
  assert.deepEqual(scaleOut.steps.map((g: Obj[]) => g.map((s) => s.template)), [['preflight'], ['plan'], ['push-part'], ['assemble'], ['register']]);
  const stepOf = (template: string) => scaleOut.steps.flat().find((s: Obj) => s.template === template) as Obj;
  const args = (s: Obj) => new Map<string, string>(s.arguments.parameters.map((p: Obj) => [p.name, p.value]));
  assert.equal(args(stepOf('preflight')).get('parts'), '{{workflow.parameters.parts}}', 'preflight counts only the base image when told the parts');
  assert.equal(args(stepOf('plan')).get('parts'), '{{workflow.parameters.parts}}');
  const fan = stepOf('push-part');
  assert.equal(fan.withParam, '{{steps.plan.outputs.parameters.parts}}');
  assert.equal(args(fan).get('part'), '{{item}}');
  assert.equal(args(stepOf('register')).get('model-uri'), '{{steps.assemble.outputs.parameters.model-uri}}');
  assert.equal(args(stepOf('register')).get('model-artifact-id'), '{{steps.preflight.outputs.parameters.model-artifact-id}}');
  // Argo v4 types parallelism as an integer: a literal default, changed by a patch (docs/templates.md).
  assert.equal(scaleOut.parallelism, PARTS_AT_ONCE);
  assert.ok(Number.isInteger(scaleOut.parallelism));
  // The part template: push --part, the part required, a workspace of its own, no global outputs, push's retries.
  const part = libraryTemplates.get('push-part')!;
  const push = libraryTemplates.get('push')!;
  assert.deepEqual(part.container.args, ['push']);
  assert.ok(part.container.env.some((e: Obj) => e.name === 'MODEL_SYNC_PART' && e.value === '{{inputs.parameters.part}}'));
  const partInput = (part.inputs.parameters as Obj[]).find((p) => p.name === 'part')!;
  assert.equal(partInput.default, undefined, 'each child gets its {{item}}; no default');
  assert.deepEqual((part.inputs.parameters as Obj[]).map((p) => p.name), (push.inputs.parameters as Obj[]).map((p) => p.name));
  assert.deepEqual(part.container.env, push.container.env);
  assert.deepEqual((part.volumes as Obj[]).find((v) => v.name === 'part-workspace'), { name: 'part-workspace', emptyDir: {} }, 'no shared volume for the parts');
  assert.deepEqual((part.container.volumeMounts as Obj[]).filter((m) => m.mountPath === '/workspace'), [{ name: 'part-workspace', mountPath: '/workspace' }]);
  assert.ok(!(part.container.volumeMounts as Obj[]).some((m) => m.name === 'workspace'), 'a part does not mount the claim');
  assert.ok((push.container.volumeMounts as Obj[]).some((m) => m.name === 'workspace' && m.mountPath === '/workspace'), 'push of the per-step chain keeps the claim');
  assert.ok((part.outputs.parameters as Obj[]).every((o) => o.globalName === undefined), "a part's outputs are not the workflow's");
  assert.deepEqual(part.retryStrategy, push.retryStrategy);
  // The per-step chain leaves the scale-out settings empty; `part` is no workflow parameter.
  const main = libraryTemplates.get('main')!;
  const mainStep = (name: string) => args(main.steps.flat().find((s: Obj) => s.name === name));
  assert.equal(mainStep('preflight').get('parts'), '');
  assert.equal(mainStep('push').get('part'), '');
  const wfParams = (library.spec.arguments.parameters as Obj[]).map((p) => p.name);
  assert.ok(wfParams.includes('parts') && !wfParams.includes('part'));
  const sample = argoWorkflows.find((d) => d.file === 'samples/argo/workflow-scale-out.yaml')!.doc as Obj;
  assert.equal(sample.spec.entrypoint, 'scale-out');
  assert.equal(sample.spec.volumeClaimTemplates[0].metadata.name, 'workspace');
  assert.ok(sample.spec.arguments.parameters.some((p: Obj) => p.name === 'parts' && Number(p.value) > 1));
  // The documented patch points at the scale-out template's parallelism.
  const docs = readFileSync(path.join(REPO_ROOT, 'docs/templates.md'), 'utf8');
  const patch = /op: test\s+path: \/spec\/templates\/(\d+)\/name\s+value: scale-out\s+- op: replace\s+path: \/spec\/templates\/(\d+)\/parallelism\s+value: (\d+)/.exec(docs);
  assert.ok(patch, 'docs/templates.md: the kustomize patch of the parts at once');
  assert.equal(patch[1], patch[2]);
  assert.equal((library.spec.templates as Obj[])[Number(patch[1])]!.name, 'scale-out', 'the documented index is the scale-out template');
  const semaphore = /`op: add` on `\/spec\/templates\/(\d+)\/synchronization`, after a `test` of\s+`\/spec\/templates\/(\d+)\/name` = `push-part`/.exec(docs);
  assert.ok(semaphore && semaphore[1] === semaphore[2], 'docs/templates.md: the semaphore patch');
  assert.equal((library.spec.templates as Obj[])[Number(semaphore[1])]!.name, 'push-part', 'the documented index is the push-part template');

  // Tekton: the plan Task's parts result is an array, push a matrix over it on the part workspace.
  const pipeline = one('Pipeline', 'model-sync-pipeline-scale-out');
  assert.deepEqual((pipeline.spec.tasks as Obj[]).map((t) => t.taskRef.name), ['model-sync-preflight', 'model-sync-plan', 'model-sync-push', 'model-sync-assemble', 'model-sync-register']);
  assert.equal(pipeline.metadata.annotations['tekton.dev/pipelines.minVersion'], '0.53.0', 'matrix is beta from Tekton Pipelines 0.53.0');
  assert.equal((tasks.get('model-sync-plan')!.spec.results as Obj[]).find((r) => r.name === 'parts')?.type, 'array');
  const task = (name: string) => (pipeline.spec.tasks as Obj[]).find((t) => t.name === name)!;
  const tParams = (t: Obj) => new Map<string, unknown>((t.params as Obj[]).map((p) => [p.name, p.value]));
  assert.equal(tParams(task('preflight')).get('parts'), '$(params.parts)');
  assert.equal(tParams(task('plan')).get('parts'), '$(params.parts)');
  assert.deepEqual(task('push').matrix, { params: [{ name: 'part', value: '$(tasks.plan.results.parts[*])' }] });
  assert.ok(!tParams(task('push')).has('part'));
  assert.equal(task('push').retries, undefined, 'no Tekton retries: they ignore exit codes (in-process retries instead)');
  const wsOf = (t: Obj) => (t.workspaces as Obj[]).find((w) => w.name === 'workspace')?.workspace;
  assert.equal(wsOf(task('push')), 'part-workspace', 'each part TaskRun on the part workspace');
  for (const t of ['preflight', 'plan', 'assemble', 'register']) assert.equal(wsOf(task(t)), 'workspace', t);
  assert.equal(tParams(task('register')).get('model-uri'), '$(tasks.assemble.results.model-uri)');
  assert.deepEqual((pipeline.spec.finally as Obj[]).map((f) => f.taskRef.name), ['model-sync-mark-failed']);
  const perStep = one('Pipeline', 'model-sync-pipeline');
  assert.ok(!(perStep.spec.params as Obj[]).some((p) => p.name === 'part' || p.name === 'parts'), 'the per-step Pipeline has no scale-out params');
  const run = ofKind('PipelineRun').find((d) => d.file === `${catalogFolder('pipeline', 'model-sync-pipeline-scale-out')}/samples/pipelinerun.yaml`)!.doc as Obj;
  assert.deepEqual(run.spec.workspaces.find((w: Obj) => w.name === 'part-workspace'), { name: 'part-workspace', emptyDir: {} });
  assert.ok(run.spec.workspaces.find((w: Obj) => w.name === 'workspace').volumeClaimTemplate);
  assert.match(readFileSync(path.join(REPO_ROOT, catalogFolder('pipeline', 'model-sync-pipeline-scale-out'), 'README.md'), 'utf8'), /emptyDir/);
});

test('tekton: the sample PipelineRuns and TaskRun give every required param and workspace, and set fsGroup', () => {
  assert.equal(ofKind('PipelineRun').length, 3);
  for (const { file, doc: run } of ofKind('PipelineRun')) {
    const pipeline = one('Pipeline', run.spec.pipelineRef.name);
    assert.ok(pipeline, `${file}: Pipeline ${run.spec.pipelineRef.name} not generated`);
    const given = new Set(run.spec.params.map((p: Obj) => p.name));
    for (const p of given) assert.ok(pipeline.spec.params.some((q: Obj) => q.name === p), `${file}: param ${String(p)}`);
    for (const p of pipeline.spec.params) if (p.default === undefined) assert.ok(given.has(p.name), `${file} lacks ${p.name}`);
    for (const w of pipeline.spec.workspaces) if (!w.optional) assert.ok(run.spec.workspaces.some((b: Obj) => b.name === w.name), `${file}: workspace ${w.name}`);
    assert.equal(run.spec.taskRunTemplate.podTemplate.securityContext.fsGroup, 65532);
  }
  const tr = one('TaskRun');
  const task = tasks.get(tr.spec.taskRef.name)!;
  for (const p of tr.spec.params) assert.ok(task.spec.params.some((q: Obj) => q.name === p.name));
});

test('jobs: restartPolicy Never, podFailurePolicy on the bad-input exit codes, deadlines, volumes and Secrets that exist', () => {
  const secretNames = new Set(ofKind('Secret').map((d) => d.doc.metadata.name));
  const configMaps = new Set(ofKind('ConfigMap').map((d) => d.doc.metadata.name));
  for (const { file, doc } of ourJobs) {
    const spec = doc.spec as Obj;
    const pod = spec.template.spec;
    assert.equal(pod.restartPolicy, 'Never');
    assert.ok(spec.backoffLimit > 0 && spec.activeDeadlineSeconds > 0 && spec.ttlSecondsAfterFinished > 0, file);
    const failJob = spec.podFailurePolicy.rules.find((r: Obj) => r.action === 'FailJob');
    assert.deepEqual(failJob.onExitCodes.values, [...NON_RETRYABLE_EXIT_CODES]);
    assert.ok(spec.podFailurePolicy.rules.some((r: Obj) => r.action === 'Ignore' && r.onPodConditions[0].type === 'DisruptionTarget'));
    const volumes = new Map<string, Obj>(pod.volumes.map((v: Obj) => [v.name, v]));
    for (const c of pod.containers) {
      assert.deepEqual(c.command, ['model-sync']);
      assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
      assert.equal(failJob.onExitCodes.containerName, c.name);
      for (const m of c.volumeMounts) assert.ok(volumes.has(m.name), `${file}: volume ${m.name}`);
      for (const e of c.env) if (e.valueFrom?.secretKeyRef) assert.ok(secretNames.has(e.valueFrom.secretKeyRef.name), `${file}: Secret ${e.valueFrom.secretKeyRef.name}`);
    }
    for (const v of volumes.values()) {
      if (v.secret) assert.ok(secretNames.has(v.secret.secretName), `${file}: Secret ${v.secret.secretName}`);
      if (v.configMap && !v.configMap.optional) assert.ok(configMaps.has(v.configMap.name), `${file}: ConfigMap ${v.configMap.name}`);
    }
    const intent = c0(pod).env.find((e: Obj) => e.name === 'MODEL_SYNC_MODEL_UPLOAD_INTENT').value;
    if (intent !== 'update_artifact') assert.ok(configMaps.has(volumes.get('metadata')!.configMap.name), `${file}: metadata ConfigMap`);
  }
  function c0(pod: Obj): Obj {
    return pod.containers[0];
  }
});

test('every Job, Workflow and PipelineRun pod carries the Model Registry UI labels; ids where known', () => {
  const check = (where: string, labels: Obj | undefined) => {
    for (const [k, v] of Object.entries(UI_LABELS)) assert.equal(labels?.[k], v, `${where}: label ${k}`);
    assert.equal(labels?.[BFF_LABELS.jobType], 'async-upload', `${where}: label ${BFF_LABELS.jobType}`);
    assert.ok(labels?.[BFF_LABELS.registryName], `${where}: label ${BFF_LABELS.registryName}`);
  };
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const jobIds = new Set<string>();
  for (const { file, doc } of ourJobs) {
    // The UI selects the Job itself (job-type + model-registry-name) and reads job-id from it.
    for (const [where, labels] of [[`${file} Job`, doc.metadata.labels], [`${file} pod`, doc.spec.template.metadata.labels]] as const) {
      check(where, labels);
      assert.equal(labels[BFF_LABELS.registryName], REGISTRY_NAME_PARAM.default, `${where}: registry name`);
      assert.match(labels[BFF_LABELS.jobId] ?? '', uuid, `${where}: job-id is a uuid`);
    }
    assert.equal(doc.spec.template.metadata.labels[BFF_LABELS.jobId], doc.metadata.labels[BFF_LABELS.jobId], `${file}: one job-id`);
    jobIds.add(doc.metadata.labels[BFF_LABELS.jobId]);
    const env = doc.spec.template.spec.containers[0].env as Obj[];
    // What the UI's list shows for the Job comes from its annotations.
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    assert.ok(doc.metadata.annotations['modelregistry.kubeflow.org/display-name'], `${file}: display-name`);
    assert.equal(doc.metadata.annotations['modelregistry.kubeflow.org/upload-intent'], value('MODEL_SYNC_MODEL_UPLOAD_INTENT'), `${file}: upload-intent`);
    assert.equal(doc.metadata.annotations['modelregistry.kubeflow.org/dest-uri'], value('MODEL_SYNC_DESTINATION_OCI_URI'), `${file}: dest-uri`);
    const artifact = env.find((e) => e.name === 'MODEL_SYNC_MODEL_ARTIFACT_ID')?.value;
    assert.equal(doc.spec.template.metadata.labels['modelregistry.kubeflow.org/model-sync-model-artifact-id'], artifact, `${file}: artifact id label`);
  }
  assert.equal(jobIds.size, ourJobs.length, 'each sample Job has its own job-id');
  for (const { file, doc } of argoTemplates) {
    check(`${file} podMetadata`, doc.spec.podMetadata.labels);
    assert.equal(doc.spec.podMetadata.labels[BFF_LABELS.registryName], '{{workflow.parameters.model-registry-name}}');
    assert.equal(doc.spec.podMetadata.labels[BFF_LABELS.jobId], '{{workflow.uid}}');
    assert.equal(doc.spec.podMetadata.labels['modelregistry.kubeflow.org/model-sync-model-artifact-id'], '{{workflow.parameters.model-artifact-id}}');
    assert.deepEqual(doc.spec.workflowMetadata.labelsFrom, {
      [BFF_LABELS.registryName]: { expression: "workflow.parameters['model-registry-name']" },
      [BFF_LABELS.jobId]: { expression: 'workflow.uid' },
    });
    const param = (doc.spec.arguments.parameters as Obj[]).find((p) => p.name === 'model-registry-name');
    assert.equal(param?.value, REGISTRY_NAME_PARAM.default, `${file}: model-registry-name parameter with its default`);
    // Leaf template metadata travels with templateRef: the labels come with it, from the leaf's own input.
    for (const t of doc.spec.templates as Obj[]) {
      if (!t.container) continue;
      check(`${file} ${t.name}`, t.metadata.labels);
      assert.equal(t.metadata.labels[BFF_LABELS.registryName], '{{inputs.parameters.model-registry-name}}');
      assert.equal(t.metadata.labels[BFF_LABELS.jobId], '{{workflow.uid}}');
      assert.ok((t.inputs.parameters as Obj[]).some((p) => p.name === 'model-registry-name' && p.default === REGISTRY_NAME_PARAM.default), `${file} ${t.name}: input`);
    }
  }
  for (const { file, doc } of [...argoWorkflows, ...ofKind('PipelineRun'), ...ofKind('TaskRun')]) check(file, doc.metadata.labels);
});

test('no service link variables in any pod we ship: enableServiceLinks false wherever the engine allows it', () => {
  // A Service named model-sync-registry would otherwise put MODEL_SYNC_REGISTRY_PORT=tcp://... into the pod.
  assert.ok(ourJobs.length >= 3);
  for (const { file, doc } of ourJobs) assert.equal(doc.spec.template.spec.enableServiceLinks, false, `${file}: pod spec`);
  // Argo has no field for it: each container template carries a podSpecPatch (it travels with templateRef).
  for (const { file, doc } of [...argoTemplates, ...argoWorkflows]) {
    for (const t of (doc.spec.templates ?? []) as Obj[]) {
      if (!t.container && !t.script) continue;
      assert.deepEqual(JSON.parse(t.podSpecPatch ?? '{}'), { enableServiceLinks: false }, `${file} ${t.name}: podSpecPatch`);
    }
  }
  for (const { file, doc } of ofKind('PipelineRun')) assert.equal(doc.spec.taskRunTemplate.podTemplate.enableServiceLinks, false, `${file}: taskRunTemplate.podTemplate`);
  for (const { file, doc } of ofKind('TaskRun')) assert.equal(doc.spec.podTemplate.enableServiceLinks, false, `${file}: podTemplate`);
  // The documented exceptions: a Task cannot set it (its README says to set it on the run), and the
  // samples/bff/ Jobs reproduce the UI's Jobs, which do not set it.
  for (const [name] of tasks) {
    const readme = readFileSync(path.join(REPO_ROOT, catalogFolder('task', name), 'README.md'), 'utf8');
    assert.match(readme, /podTemplate\.enableServiceLinks: false/, `${name}: README.md`);
  }
  for (const { file, doc } of ofKind('Job').filter((d) => isBffSample(d.file))) assert.equal(doc.spec.template.spec.enableServiceLinks, undefined, `${file}: as the UI builds it`);
  assert.match(readFileSync(path.join(REPO_ROOT, 'docs/templates.md'), 'utf8'), /enableServiceLinks/);
});

test('tekton: no pipeline task has retries (Tekton retries ignore exit codes; model-sync retries transient faults itself)', () => {
  for (const { file, doc } of loadTemplateDocs()) {
    if (doc.kind !== 'Pipeline') continue;
    const spec = doc.spec as { tasks?: Array<Record<string, unknown>>; finally?: Array<Record<string, unknown>> };
    for (const t of [...(spec.tasks ?? []), ...(spec.finally ?? [])]) assert.equal(t.retries, undefined, `${file} ${String(t.name)}`);
  }
});

test('every template pod that reads the source takes HF_TOKEN and the Azure credentials (both spellings) from the source Secret (optional keys)', () => {
  const wanted = ['HF_TOKEN', 'AZURE_STORAGE_ACCESS_KEY', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZ_CLIENT_ID', 'AZ_TENANT_ID', 'AZ_CLIENT_SECRET'];
  let checked = 0;
  const visit = (file: string, node: unknown): void => {
    if (Array.isArray(node)) return node.forEach((n) => visit(file, n));
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    const env = Array.isArray(o.env) ? (o.env as Array<Record<string, any>>) : undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (env?.some((e) => e.name === 'MODEL_SYNC_SOURCE_TYPE')) {
      checked++;
      for (const name of wanted) {
        const e: Record<string, any> | undefined = env.find((x) => x.name === name);
        assert.ok(e, `${file}: a container reading the source lacks ${name}`);
        assert.equal(e.valueFrom?.secretKeyRef?.key, name);
        assert.equal(e.valueFrom?.secretKeyRef?.optional, true);
        assert.match(String(e.valueFrom?.secretKeyRef?.name), /source-secret|model-sync-source/);
      }
    }
    for (const v of Object.values(o)) visit(file, v);
  };
  for (const { file, doc } of loadTemplateDocs()) if (!file.includes('/bff/')) visit(file, doc);
  assert.ok(checked >= 10, `${checked} containers checked`);
});

test('every job pod we ship opts out of Istio sidecar injection (a sidecar would keep the pod from completing)', () => {
  const off = (annotations: Obj | undefined, where: string) => assert.equal(annotations?.['sidecar.istio.io/inject'], 'false', where);
  // Argo: on each leaf template's metadata, which travels with templateRef into callers' Workflows.
  for (const { file, doc } of argoTemplates) {
    for (const t of (doc.spec as Obj).templates as Obj[]) if (t.container) off(t.metadata?.annotations, `${file}: template ${t.name}`);
  }
  // Tekton copies a Task's annotations onto its pods; Pipelines, PipelineRuns and TaskRuns use these Tasks.
  const tasks = ofKind('Task');
  assert.ok(tasks.length >= 9);
  for (const { file, doc } of tasks) off((doc.metadata as Obj).annotations, file);
  for (const { file, doc } of ourJobs) off((doc.spec as Obj).template.metadata?.annotations, file);
});

test('the registries\' certs.d folders come from optional ConfigMaps: a mounted volume (Argo, Job) or an optional workspace (Tekton)', () => {
  const settings = { MODEL_SYNC_SOURCE_OCI_CERT_DIR: 'source-oci-certs', MODEL_SYNC_DESTINATION_OCI_CERT_DIR: 'destination-oci-certs' } as const;
  let checked = 0;
  for (const { file, doc } of docs) {
    if (isBffSample(file)) continue;
    if (doc.kind === 'Task') {
      const spec = doc.spec as Obj;
      for (const s of spec.steps as Obj[]) {
        for (const [env, ws] of Object.entries(settings)) {
          const e = (s.env as Obj[]).find((x) => x.name === env);
          if (!e) continue;
          checked++;
          assert.equal(e.value, `$(workspaces.${ws}.path)`, `${file}: ${env}`);
          assert.equal((spec.workspaces as Obj[]).find((w) => w.name === ws)?.optional, true, `${file}: workspace ${ws} optional`);
        }
      }
      continue;
    }
    // Argo templates and Jobs: the env names a mount of an optional ConfigMap volume.
    const pods: Array<{ container: Obj; volumes: Obj[] }> = [];
    if (doc.kind === 'Job') {
      const pod = (doc.spec as Obj).template.spec as Obj;
      for (const c of pod.containers as Obj[]) pods.push({ container: c, volumes: pod.volumes });
    }
    if (doc.kind === 'WorkflowTemplate' || doc.kind === 'ClusterWorkflowTemplate') {
      for (const t of (doc.spec as Obj).templates as Obj[]) if (t.container) pods.push({ container: t.container, volumes: t.volumes ?? [] });
    }
    for (const { container, volumes } of pods) {
      for (const env of Object.keys(settings)) {
        const e = ((container.env ?? []) as Obj[]).find((x) => x.name === env);
        if (!e) continue;
        checked++;
        const mount = ((container.volumeMounts ?? []) as Obj[]).find((m) => m.mountPath === e.value);
        assert.ok(mount, `${file}: ${env}=${e.value} is mounted`);
        const volume = volumes.find((v) => v.name === mount.name);
        assert.equal(volume?.configMap?.optional, true, `${file}: ${env} from an optional ConfigMap`);
      }
    }
  }
  assert.ok(checked >= 20, `${checked} settings checked`);
});
