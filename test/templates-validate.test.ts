// Every YAML under workflows/, tekton/ and samples/ parses, and validates against the strict
// Argo/Tekton CRD schemas and Kubernetes schemas in ../shared/specs (skipped, with a note, when absent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SchemaSet, loadTemplateDocs, parseAll, templateFiles, volumeValidator, SPECS_DIR } from './support/template-schemas.js';
import { catalogFile, catalogFolder } from '../scripts/lib/templates/catalog-layout.js';

const docs = loadTemplateDocs();
const specsPresent = (() => {
  try {
    return readFileSync(`${SPECS_DIR}/SOURCES.md`).length > 0;
  } catch {
    return false;
  }
})();
const schemas = specsPresent ? new SchemaSet() : undefined;
const SKIP = `../shared/specs is absent (${SPECS_DIR}): schema validation skipped`;

test('every template file parses as multi-document YAML and holds objects with apiVersion and kind', () => {
  const files = templateFiles();
  assert.ok(files.length >= 15, `expected the generated files, found ${files.length}`);
  for (const file of files) {
    const parsed = parseAll(readFileSync(file, 'utf8'), file);
    assert.ok(parsed.length > 0, `${file} holds no document`);
    for (const d of parsed) assert.ok(d.apiVersion && d.kind, `${file}: a document without apiVersion/kind`);
  }
});

test('duplicate keys are parse errors', () => {
  assert.throws(() => parseAll('a: 1\na: 2\n', 'dup.yaml'), /dup.yaml/);
});

test('every document validates against its strict schema', (t) => {
  if (!schemas) return t.skip(SKIP);
  if (schemas.missing.length) t.diagnostic(`missing spec files, kinds they cover are not checked: ${schemas.missing.join(', ')}`);
  const failures: string[] = [];
  for (const { file, doc } of docs) {
    const kind = `${String(doc.apiVersion)} ${String(doc.kind)}`;
    assert.ok(schemas.has(String(doc.apiVersion), String(doc.kind)), `${file}: no schema for ${kind}`);
    const errors = schemas.validate(doc);
    if (errors.length) failures.push(`${file} (${kind}):\n  ${errors.slice(0, 10).join('\n  ')}`);
  }
  assert.deepEqual(failures, []);
});

test('Tekton Task volumes validate against the Kubernetes Volume schema (opaque in the Task CRD)', (t) => {
  const validate = specsPresent ? volumeValidator() : undefined;
  if (!validate) return t.skip(SKIP);
  for (const { file, doc } of docs.filter((d) => d.doc.kind === 'Task')) {
    for (const v of ((doc.spec as { volumes?: unknown[] }).volumes ?? [])) {
      assert.ok(validate(v), `${file}: volume ${JSON.stringify(v)}: ${JSON.stringify(validate.errors)}`);
    }
  }
});

function mutated<T>(doc: T, mutate: (copy: T) => void): T {
  const copy = structuredClone(doc);
  mutate(copy);
  return copy;
}

test('strict schemas catch typos (retrystrategy, comand, backofflimit) and templated quantities', (t) => {
  if (!schemas) return t.skip(SKIP);
  const wft = docs.find((d) => d.doc.kind === 'WorkflowTemplate')!.doc;
  type Leaf = Record<string, unknown> & { container?: Record<string, unknown> };
  const typo = mutated(wft, (c) => {
    const leaf = ((c.spec as { templates: Leaf[] }).templates).find((x) => x.name === 'fetch')!;
    leaf.retrystrategy = leaf.retryStrategy;
    delete leaf.retryStrategy;
  });
  assert.match(schemas.validate(typo).join('\n'), /retrystrategy/);
  const quantity = mutated(wft, (c) => {
    const vct = (c.spec as { volumeClaimTemplates: { spec: { resources: { requests: Record<string, string> } } }[] }).volumeClaimTemplates[0]!;
    vct.spec.resources.requests.storage = '{{workflow.parameters.size}}';
  });
  assert.notDeepEqual(schemas.validate(quantity), [], 'a templated storage size must fail the v4 CRD');

  const task = docs.find((d) => d.doc.kind === 'Task')!.doc;
  const badTask = mutated(task, (c) => {
    const s = (c.spec as { steps: Record<string, unknown>[] }).steps[0]!;
    s.comand = s.command;
  });
  assert.match(schemas.validate(badTask).join('\n'), /comand/);

  const job = docs.find((d) => d.doc.kind === 'Job')!.doc;
  const badJob = mutated(job, (c) => {
    (c.spec as Record<string, unknown>).backofflimit = 3;
  });
  assert.match(schemas.validate(badJob).join('\n'), /backofflimit/);
});

test('the scale-out files are validated, and the v4 CRD refuses a templated parallelism (why it is a literal)', (t) => {
  const files = new Set(docs.map((d) => d.file));
  for (const f of [catalogFile('pipeline', 'model-sync-pipeline-scale-out'), catalogFile('task', 'model-sync-plan'), catalogFile('task', 'model-sync-assemble'), 'samples/argo/workflow-scale-out.yaml', `${catalogFolder('pipeline', 'model-sync-pipeline-scale-out')}/samples/pipelinerun.yaml`]) {
    assert.ok(files.has(f), `${f} is not among the validated files`);
  }
  if (!schemas) return t.skip(SKIP);
  const wft = docs.find((d) => d.doc.kind === 'WorkflowTemplate')!.doc;
  type Steps = Record<string, unknown> & { name: string };
  const scaleOut = (c: typeof wft) => ((c.spec as { templates: Steps[] }).templates).find((x) => x.name === 'scale-out')!;
  assert.equal(typeof scaleOut(wft).parallelism, 'number');
  const templated = mutated(wft, (c) => {
    scaleOut(c).parallelism = '{{workflow.parameters.parts-at-once}}';
  });
  assert.match(schemas.validate(templated).join('\n'), /parallelism/, 'a {{…}} parallelism must fail the v4 CRD');
});
