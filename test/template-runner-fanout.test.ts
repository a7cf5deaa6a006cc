// The template interpreter's fan-out (test/support/template-runner.ts): Argo `withParam`/`withItems`
// loops and Tekton `matrix`, on tiny documents built here. The runner starts `model-sync` as
// `node <cli>`; here <cli> is a small script that logs when it ran which item to a shared folder,
// so the tests see every run, its value, and which runs were alive at the same time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../dev/cli.js';
import { runArgoWorkflowTemplate, runTektonPipeline, type EngineRun } from './support/template-runner.js';

type Obj = Record<string, any>;

// plan <out> <json>: writes the list. part <item> <out>: logs its interval, sleeps 1.5 s, far beyond a process start-up under load (an item
// starting with "fail" exits 1 at once), writes size-<item>. gather <values...>: logs its argv.
const FAKE_CLI = `
import { writeFileSync } from 'node:fs';
import path from 'node:path';
const [mode, ...args] = process.argv.slice(2);
const log = (name, data) => writeFileSync(path.join(process.env.FANOUT_DIR, name + '-' + process.pid + '.json'), JSON.stringify(data));
if (mode === 'plan') writeFileSync(args[0], args[1]);
else if (mode === 'part') {
  const [item, out] = args;
  const start = Date.now();
  if (item.startsWith('fail')) { log('part', { item, start, end: Date.now(), failed: true }); process.exit(1); }
  await new Promise((r) => setTimeout(r, 1500));
  writeFileSync(out, 'size-' + item);
  log('part', { item, start, end: Date.now() });
} else if (mode === 'gather') log('gather', { args });
else process.exit(9);
`;

let root: string;
let cli: string;
before(async () => {
  root = await tempDir('ms-runner-fanout-');
  cli = path.join(root, 'fake-cli.mjs');
  await writeFile(cli, FAKE_CLI);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface PartLog {
  item: string;
  start: number;
  end: number;
  failed?: boolean;
}

/** A fresh shared folder and the runner options that point the fake CLI at it. */
async function logFolder(name: string) {
  const dir = path.join(root, name);
  await mkdir(dir);
  return { dir, opts: { root, objects: [], cli, env: { FANOUT_DIR: dir } } };
}

async function logs(dir: string, kind: 'part' | 'gather'): Promise<Obj[]> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${kind}-`));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(path.join(dir, f), 'utf8')) as Obj));
}

/** The most runs alive at one instant. */
function maxConcurrency(parts: PartLog[]): number {
  return Math.max(...parts.map((p) => parts.filter((q) => q.start <= p.start && p.start < q.end).length));
}

function describeRun(run: EngineRun): string {
  return run.pods.map((p) => `${p.name}[${p.index ?? '-'}] exit ${p.exitCode}: ${p.stderr.trim().split('\n').slice(-1)[0] ?? ''}`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Argo

const container = (args: string[], mounts = true) => ({ image: 'model-sync', command: ['model-sync'], args, ...(mounts ? { volumeMounts: [{ name: 'out', mountPath: '/out' }] } : {}) });
const outVolume = [{ name: 'out', emptyDir: {} }];

/** plan → part (withParam over plan's output, or `loop` instead) → gather (the aggregated sizes). */
function argoTemplate(opts: { parallelism?: unknown; workflowParallelism?: unknown; loop?: Obj } = {}): Obj {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'WorkflowTemplate',
    metadata: { name: 'fanout' },
    spec: {
      entrypoint: 'main',
      ...(opts.workflowParallelism === undefined ? {} : { parallelism: opts.workflowParallelism }),
      arguments: { parameters: [{ name: 'parts', value: '["a","b","c"]' }] },
      templates: [
        {
          name: 'main',
          ...(opts.parallelism === undefined ? {} : { parallelism: opts.parallelism }),
          steps: [
            [{ name: 'plan', template: 'plan' }],
            [{ name: 'part', template: 'part', arguments: { parameters: [{ name: 'part', value: '{{item}}' }] }, ...(opts.loop ?? { withParam: '{{steps.plan.outputs.parameters.parts}}' }) }],
            [{ name: 'gather', template: 'gather', arguments: { parameters: [{ name: 'sizes', value: '{{steps.part.outputs.parameters.size}}' }] } }],
          ],
        },
        { name: 'plan', container: container(['plan', '/out/parts', '{{workflow.parameters.parts}}']), volumes: outVolume, outputs: { parameters: [{ name: 'parts', valueFrom: { path: '/out/parts' } }] } },
        {
          name: 'part',
          inputs: { parameters: [{ name: 'part' }] },
          container: container(['part', '{{inputs.parameters.part}}', '/out/size']),
          volumes: outVolume,
          outputs: { parameters: [{ name: 'size', valueFrom: { path: '/out/size' } }] },
        },
        { name: 'gather', inputs: { parameters: [{ name: 'sizes' }] }, container: container(['gather', '{{inputs.parameters.sizes}}'], false) },
      ],
    },
  };
}

test('argo withParam: one process per item of the planned list, all at once, and the next step gets the outputs as a JSON list', async () => {
  const { dir, opts } = await logFolder('argo-all');
  const run = await runArgoWorkflowTemplate({ template: argoTemplate(), parameters: {} }, opts);
  assert.equal(run.status, 'Succeeded', describeRun(run));
  const parts = (await logs(dir, 'part')) as PartLog[];
  assert.deepEqual(parts.map((p) => p.item).sort(), ['a', 'b', 'c'], 'every item ran once with its value');
  assert.equal(maxConcurrency(parts), 3, `the three runs overlap: ${JSON.stringify(parts)}`);
  assert.deepEqual(run.pods.filter((p) => p.name === 'part').map((p) => p.index).sort(), [0, 1, 2]);
  const [gather] = await logs(dir, 'gather');
  assert.deepEqual(JSON.parse(gather!.args[0]), ['size-a', 'size-b', 'size-c'], 'aggregated in item order');
});

test('argo: parallelism 2 on the steps template, or on the workflow, runs 4 items two at a time; a {{…}} parallelism is refused', async () => {
  for (const where of ['template', 'workflow'] as const) {
    const { dir, opts } = await logFolder(`argo-cap-${where}`);
    const template = argoTemplate(where === 'template' ? { parallelism: 2 } : { workflowParallelism: 2 });
    const run = await runArgoWorkflowTemplate({ template, parameters: { parts: '["a","b","c","d"]' } }, opts);
    assert.equal(run.status, 'Succeeded', describeRun(run));
    const parts = (await logs(dir, 'part')) as PartLog[];
    assert.equal(parts.length, 4);
    assert.equal(maxConcurrency(parts), 2, `${where}: two at a time: ${JSON.stringify(parts)}`);
  }
  const { opts } = await logFolder('argo-cap-param');
  await assert.rejects(runArgoWorkflowTemplate({ template: argoTemplate({ parallelism: '{{workflow.parameters.parts}}' }), parameters: {} }, opts), /parallelism must be a positive integer/);
});

test('argo: a failing item fails the step once the other items have ended, and the next step does not run', async () => {
  const { dir, opts } = await logFolder('argo-fail');
  const run = await runArgoWorkflowTemplate({ template: argoTemplate(), parameters: { parts: '["a","fail-b","c"]' } }, opts);
  assert.equal(run.status, 'Failed', describeRun(run));
  const parts = (await logs(dir, 'part')) as PartLog[];
  assert.deepEqual(parts.filter((p) => !p.failed).map((p) => p.item).sort(), ['a', 'c'], 'the other items ran to their end');
  assert.deepEqual(await logs(dir, 'gather'), [], 'gather did not start');
  assert.deepEqual(run.pods.map((p) => p.name).sort(), ['part', 'part', 'part', 'plan']);
  assert.equal(run.pods.find((p) => p.name === 'part' && p.exitCode !== 0)?.index, 1);
});

test('argo withItems: object items give {{item.<key>}}', async () => {
  const { dir, opts } = await logFolder('argo-items');
  const loop = { withItems: [{ id: 1, name: 'x' }, { id: 2, name: 'y' }] };
  const template = argoTemplate({ loop });
  template.spec.templates[0].steps[1][0].arguments.parameters[0].value = '{{item.name}}{{item.id}}';
  const run = await runArgoWorkflowTemplate({ template, parameters: {} }, opts);
  assert.equal(run.status, 'Succeeded', describeRun(run));
  assert.deepEqual(((await logs(dir, 'part')) as PartLog[]).map((p) => p.item).sort(), ['x1', 'y2']);
  assert.deepEqual(JSON.parse((await logs(dir, 'gather'))[0]!.args[0]), ['size-x1', 'size-y2']);
});

// ---------------------------------------------------------------------------------------------
// Tekton

const step = (args: string[]) => [{ name: 'run', image: 'model-sync', command: ['model-sync'], args }];
const tektonTasks: Obj[] = [
  { kind: 'Task', metadata: { name: 'plan' }, spec: { params: [{ name: 'parts' }], results: [{ name: 'parts', type: 'array' }], steps: step(['plan', '$(results.parts.path)', '$(params.parts)']) } },
  {
    kind: 'Task',
    metadata: { name: 'part' },
    spec: {
      params: [{ name: 'part' }, { name: 'flavour', default: '' }, { name: 'note', default: '' }],
      results: [{ name: 'size' }],
      steps: step(['part', '$(params.part)$(params.flavour)$(params.note)', '$(results.size.path)']),
    },
  },
  { kind: 'Task', metadata: { name: 'gather' }, spec: { params: [{ name: 'sizes', type: 'array' }], steps: step(['gather', '$(params.sizes[*])']) } },
];

/** plan → part (matrix over plan's array result, or `matrix` instead) → gather (the array result). */
function tektonPipeline(matrix?: Obj): Obj {
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'Pipeline',
    metadata: { name: 'fanout' },
    spec: {
      params: [{ name: 'parts', type: 'string', default: '["a","b","c"]' }],
      tasks: [
        { name: 'plan', taskRef: { name: 'plan' }, params: [{ name: 'parts', value: '$(params.parts)' }] },
        { name: 'part', taskRef: { name: 'part' }, matrix: matrix ?? { params: [{ name: 'part', value: '$(tasks.plan.results.parts[*])' }] } },
        { name: 'gather', taskRef: { name: 'gather' }, runAfter: ['part'], params: [{ name: 'sizes', value: '$(tasks.part.results.size[*])' }] },
      ],
    },
  };
}

test('tekton matrix over an array result: one TaskRun per value, all at once, and the next task gets the array result', async () => {
  const { dir, opts } = await logFolder('tekton-all');
  const run = await runTektonPipeline({ pipeline: tektonPipeline(), tasks: tektonTasks, params: {}, workspaces: {} }, opts);
  assert.equal(run.status, 'Succeeded', describeRun(run));
  const parts = (await logs(dir, 'part')) as PartLog[];
  assert.deepEqual(parts.map((p) => p.item).sort(), ['a', 'b', 'c'], 'every value ran once');
  assert.equal(maxConcurrency(parts), 3, `the three TaskRuns overlap: ${JSON.stringify(parts)}`);
  assert.deepEqual(run.pods.filter((p) => p.name === 'part').map((p) => p.index).sort(), [0, 1, 2]);
  const [gather] = await logs(dir, 'gather');
  assert.deepEqual(gather!.args, ['size-a', 'size-b', 'size-c'], 'the array result, spliced into the array param');
});

test('tekton matrix: the cartesian product of literal arrays, with include adding a param or a combination', async () => {
  const { dir, opts } = await logFolder('tekton-product');
  const matrix = {
    params: [
      { name: 'part', value: ['a', 'b'] },
      { name: 'flavour', value: ['-x', '-y'] },
    ],
    include: [
      { name: 'note-on-a', params: [{ name: 'part', value: 'a' }, { name: 'note', value: '!' }] },
      { name: 'extra', params: [{ name: 'part', value: 'z' }] },
    ],
  };
  const run = await runTektonPipeline({ pipeline: tektonPipeline(matrix), tasks: tektonTasks, params: {}, workspaces: {} }, opts);
  assert.equal(run.status, 'Succeeded', describeRun(run));
  assert.deepEqual(((await logs(dir, 'part')) as PartLog[]).map((p) => p.item).sort(), ['a-x!', 'a-y!', 'b-x', 'b-y', 'z']);
  const [gather] = await logs(dir, 'gather');
  assert.deepEqual(gather!.args, ['size-a-x!', 'size-a-y!', 'size-b-x', 'size-b-y', 'size-z'], 'first param slowest, include last');
});

test('tekton matrix: a failing combination fails the task once the others have ended; the next task does not run', async () => {
  const { dir, opts } = await logFolder('tekton-fail');
  const run = await runTektonPipeline({ pipeline: tektonPipeline(), tasks: tektonTasks, params: { parts: '["a","fail-b","c"]' }, workspaces: {} }, opts);
  assert.equal(run.status, 'Failed', describeRun(run));
  const parts = (await logs(dir, 'part')) as PartLog[];
  assert.deepEqual(parts.filter((p) => !p.failed).map((p) => p.item).sort(), ['a', 'c'], 'the other TaskRuns ran to their end');
  assert.deepEqual(await logs(dir, 'gather'), [], 'gather did not start');
  assert.equal(run.pods.find((p) => p.name === 'part' && p.exitCode !== 0)?.index, 1);
});
