// The templates are generated from steps/: regenerating gives the same bytes, and every step's
// template wires every contract parameter, with the contract's defaults, to real MODEL_SYNC_* vars.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { allSteps, parameterCatalog, type StepName } from '../src/contract/contract.js';
import { generateTemplates } from '../scripts/lib/templates/index.js';
import { ALL_ONLY_PARAMS, imageRef, packageVersion, templateParams } from '../scripts/lib/templates/common.js';
import { REPO_ROOT } from '../dev/cli.js';
import { parseAll } from './support/template-schemas.js';
import { catalogFile, catalogVersion } from '../scripts/lib/templates/catalog-layout.js';

const generated = generateTemplates();
const load = (rel: string) => parseAll(readFileSync(path.join(REPO_ROOT, rel), 'utf8'), rel);

type Obj = Record<string, any>;

test('regenerating the templates gives byte-identical files (run `npm run generate`)', () => {
  const stale: string[] = [];
  for (const [rel, content] of Object.entries(generated)) {
    let current = '';
    try {
      current = readFileSync(path.join(REPO_ROOT, rel), 'utf8');
    } catch {
      current = '<missing>';
    }
    if (current !== content) stale.push(rel);
  }
  assert.deepEqual(stale, [], 'stale generated files');
});

test('every file in the generated folders is generated (nothing left behind by a move, such as the flat tekton/*.yaml)', () => {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
  const extra = ['workflows', 'tekton', 'samples', 'deploy'].flatMap(walk).filter((f) => !(f in generated));
  assert.deepEqual(extra, [], 'files no generator writes: delete them, or generate them');
});

const envNames = new Set([...parameterCatalog().values()].map((p) => p.env));
const argo = load('workflows/model-sync-workflowtemplate.yaml')[0] as Obj;
const argoLeaves = new Map<string, Obj>((argo.spec.templates as Obj[]).map((t) => [t.name, t]));

function taskFile(step: StepName): string {
  return catalogFile('task', step === 'all' ? 'model-sync' : `model-sync-${step}`);
}

interface Wired {
  env: Obj[];
  params: Map<string, string | undefined>;
  results: string[];
  producedResults: (name: string) => boolean;
}

function argoWiring(step: StepName): Wired {
  const leaf = argoLeaves.get(step)!;
  const env = leaf.container.env as Obj[];
  const params = new Map<string, string | undefined>((leaf.inputs.parameters as Obj[]).map((p) => [p.name, p.default]));
  const resultsDir = env.find((e) => e.name === 'MODEL_SYNC_RESULTS_DIR')?.value as string;
  return {
    env,
    params,
    results: (leaf.outputs.parameters as Obj[]).map((o) => o.name),
    producedResults: (name) => (leaf.outputs.parameters as Obj[]).some((o) => o.name === name && o.valueFrom.path === `${resultsDir}/${name}`),
  };
}

function tektonWiring(step: StepName): Wired {
  const task = load(taskFile(step))[0] as Obj;
  const env = task.spec.steps[0].env as Obj[];
  const params = new Map<string, string | undefined>((task.spec.params as Obj[]).map((p) => [p.name, p.default]));
  const resultsDir = env.find((e) => e.name === 'MODEL_SYNC_RESULTS_DIR')?.value;
  return {
    env,
    params,
    results: (task.spec.results as Obj[]).map((r) => r.name),
    producedResults: () => resultsDir === '/tekton/results',
  };
}

for (const [engine, wiring] of [
  ['argo', argoWiring],
  ['tekton', tektonWiring],
] as const) {
  test(`${engine}: every contract parameter of every step is wired, with the contract default, to a real MODEL_SYNC_* variable`, () => {
    for (const contract of allSteps()) {
      const w = wiring(contract.name as StepName);
      for (const e of w.env) {
        if (e.name.startsWith('MODEL_SYNC_')) assert.ok(envNames.has(e.name), `${engine} ${contract.name}: ${e.name} is not a model-sync variable`);
      }
      // Left at their defaults: only the settings `all` alone acts on, in the other steps (preflight takes every setting).
      const wired = templateParams(contract);
      for (const p of contract.parameters.filter((q) => !wired.includes(q))) {
        assert.ok(contract.name !== 'all' && ALL_ONLY_PARAMS.has(p.name), `${engine} ${contract.name}: ${p.name} left out`);
        assert.ok(!w.env.some((e) => e.name === p.env), `${engine} ${contract.name}: ${p.env} wired although left out`);
      }
      for (const p of wired) {
        const env = w.env.find((e) => e.name === p.env);
        assert.ok(env, `${engine} ${contract.name}: ${p.env} (${p.flag}) is not wired`);
        if (p.secret) {
          assert.ok(env.valueFrom?.secretKeyRef?.optional === true, `${engine} ${contract.name}: secret ${p.name} must come from an optional secretKeyRef`);
          assert.ok(!w.params.has(p.name), `${engine} ${contract.name}: secret ${p.name} must not be a plain parameter`);
          continue;
        }
        const ref = engine === 'argo' ? `{{inputs.parameters.${p.name}}}` : `$(params.${p.name})`;
        if (env.value === ref) {
          assert.ok(w.params.has(p.name), `${engine} ${contract.name}: ${p.name} used but not declared`);
          const expected = p.required ? undefined : p.default === undefined ? '' : String(p.default);
          assert.equal(w.params.get(p.name), expected, `${engine} ${contract.name}: default of ${p.name}`);
        } else {
          assert.equal(typeof env.value, 'string', `${engine} ${contract.name}: ${p.env} has neither a parameter nor a fixed value`);
        }
      }
    }
  });

  test(`${engine}: every declared result is a result of the step and is produced where the template reads it`, () => {
    for (const contract of allSteps()) {
      const w = wiring(contract.name as StepName);
      assert.deepEqual([...w.results].sort(), contract.results.map((r) => r.name).sort(), `${engine} ${contract.name}: results`);
      for (const r of w.results) assert.ok(w.producedResults(r), `${engine} ${contract.name}: ${r} is not read from the results folder`);
    }
  });
}

test('image and version come from steps/image.yaml and package.json everywhere', () => {
  const image = imageRef();
  assert.match(image, new RegExp(`:${packageVersion().replace(/\./g, '\\.')}$`));
  for (const [rel, content] of Object.entries(generated)) {
    for (const m of content.matchAll(/image: (\S+)/g)) assert.equal(m[1], image, `${rel}: image`);
    // Tekton resources carry the catalog version (major.minor, their folder's name), the rest the package's.
    const version = rel.startsWith('tekton/') || rel.startsWith('deploy/components/tekton/') ? catalogVersion() : packageVersion();
    for (const m of content.matchAll(/app\.kubernetes\.io\/version: "?([^"\s]+)"?/g)) assert.equal(m[1], version, `${rel}: version label`);
  }
});
