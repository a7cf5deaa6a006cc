// The Tekton catalog layout (tekton/<kind>/<name>/<version>/): what the catalog and Artifact Hub
// read (file names, version label, tekton.dev/* and artifacthub.io/* annotations), samples that fit
// their Task or Pipeline, and every tests/run.yaml run as the catalog's harness would (resources.yaml
// first, then run.yaml, which must succeed), here through test/support/template-runner.ts with the
// built CLI and the test Services pointed at a local S3, registry and Model Registry stand-in.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { CLI, REPO_ROOT, tempDir } from '../dev/cli.js';
import { S3RVER_KEY, S3RVER_SECRET } from '../dev/s3-server.js';
import { catalogVersion } from '../scripts/lib/templates/catalog-layout.js';
import { CATALOG_TEST_S3, CATALOG_TEST_SERVICES } from '../scripts/lib/templates/catalog.js';
import { imagePlatforms } from '../scripts/lib/templates/common.js';
import { parseAll } from './support/template-schemas.js';
import { e2eSkip, startE2eServers, type E2eServers } from './support/template-e2e.js';
import { runTektonPipeline, type EngineRun, type WorkspaceBinding } from './support/template-runner.js';

type Obj = Record<string, any>;

const TEKTON = path.join(REPO_ROOT, 'tekton');
/** Tekton Hub's categories (tektoncd/hub config.yaml): a resource with another one is not listed. */
const HUB_CATEGORIES = new Set(['Automation', 'Build Tools', 'CLI', 'Cloud', 'Code Quality', 'Continuous Integration', 'Deployment', 'Developer Tools', 'Image Build', 'Integration & Delivery', 'Git', 'Kubernetes', 'Messaging', 'Monitoring', 'Networking', 'Openshift', 'Publishing', 'Security', 'Storage', 'Testing']);
/** Artifact Hub's categories (its annotations documentation). */
const ARTIFACT_HUB_CATEGORIES = new Set(['ai-machine-learning', 'database', 'integration-delivery', 'monitoring-logging', 'networking', 'security', 'storage', 'streaming-messaging']);
const CHANGE_KINDS = new Set(['added', 'changed', 'deprecated', 'removed', 'fixed', 'security']);

interface Entry {
  kind: 'task' | 'pipeline';
  name: string;
  dir: string;
}

const entries: Entry[] = (['task', 'pipeline'] as const).flatMap((kind) =>
  readdirSync(path.join(TEKTON, kind)).map((name) => ({ kind, name, dir: path.join(TEKTON, kind, name, catalogVersion()) })),
);
const load = (file: string) => parseAll(readFileSync(file, 'utf8'), path.relative(REPO_ROOT, file)) as Obj[];
const resourceOf = (e: Entry) => load(path.join(e.dir, `${e.name}.yaml`))[0]!;
const catalogTasks = entries.filter((e) => e.kind === 'task').map(resourceOf);
const catalogPipelines = entries.filter((e) => e.kind === 'pipeline').map(resourceOf);

describe('tekton catalog layout', () => {
  it('holds every Task and Pipeline in <kind>/<name>/<version>/ with <name>.yaml, README.md, samples/ and tests/, and nothing flat beside them', () => {
    assert.deepEqual(readdirSync(TEKTON).sort(), ['README.md', 'pipeline', 'task']);
    assert.equal(entries.filter((e) => e.kind === 'task').length, 9);
    assert.equal(entries.filter((e) => e.kind === 'pipeline').length, 3);
    for (const e of entries) {
      assert.deepEqual(readdirSync(path.dirname(e.dir)), [catalogVersion()], `${e.name}: one version folder`);
      assert.deepEqual(readdirSync(e.dir).sort(), ['README.md', 'samples', 'tests', `${e.name}.yaml`].sort(), e.name);
      assert.ok(readdirSync(path.join(e.dir, 'samples')).some((f) => f.endsWith('.yaml')), `${e.name}: a sample`);
      assert.deepEqual(readdirSync(path.join(e.dir, 'tests')).sort(), ['resources.yaml', 'run.yaml']);
      const docs = load(path.join(e.dir, `${e.name}.yaml`));
      assert.equal(docs.length, 1, `${e.name}: one resource per file`);
      assert.equal(docs[0]!.kind, e.kind === 'task' ? 'Task' : 'Pipeline');
      assert.equal(docs[0]!.metadata.name, e.name, 'the file is named after the resource');
      const readme = readFileSync(path.join(e.dir, 'README.md'), 'utf8');
      assert.match(readme, /kubectl apply /);
      assert.ok(readme.includes(`-f tekton/${e.kind}/${e.name}/${catalogVersion()}/${e.name}.yaml`), `${e.name}: README says how to install it from its folder`);
      assert.match(readme, /## Samples and tests/);
    }
  });

  it('labels and annotates each resource as the catalog and Artifact Hub read them; the platforms are what the image build produces', () => {
    const license = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { license: string }).license;
    for (const r of [...catalogTasks, ...catalogPipelines]) {
      const name = r.metadata.name as string;
      const a = r.metadata.annotations as Record<string, string>;
      assert.equal(r.metadata.labels['app.kubernetes.io/version'], catalogVersion(), `${name}: version label = folder`);
      assert.match(a['tekton.dev/pipelines.minVersion']!, /^\d+\.\d+\.\d+$/);
      for (const c of a['tekton.dev/categories']!.split(',').map((x) => x.trim())) assert.ok(HUB_CATEGORIES.has(c), `${name}: category ${c} is one of the Hub's`);
      assert.ok(a['tekton.dev/tags'] && a['tekton.dev/displayName'], name);
      assert.deepEqual(a['tekton.dev/platforms']!.split(','), imagePlatforms(), `${name}: platforms`);
      assert.ok(ARTIFACT_HUB_CATEGORIES.has(a['artifacthub.io/category']!), `${name}: artifacthub.io/category`);
      assert.equal(a['artifacthub.io/license'], license);
      assert.ok(a['artifacthub.io/provider']);
      const changes = YAML.parse(a['artifacthub.io/changes']!) as Array<{ kind: string; description: string }>;
      assert.ok(Array.isArray(changes) && changes.length > 0 && changes.every((c) => CHANGE_KINDS.has(c.kind) && c.description), `${name}: artifacthub.io/changes`);
    }
    // image.yaml is what build-image.sh builds for; the annotation must not claim more.
    const image = YAML.parse(readFileSync(path.join(REPO_ROOT, 'steps', 'image.yaml'), 'utf8')) as { platforms: string[] };
    assert.deepEqual(imagePlatforms(), image.platforms);
  });

  it('each sample runs a resource of its folder with params and workspaces it declares, every required workspace bound', () => {
    for (const e of entries) {
      const resource = resourceOf(e);
      const params = new Set((resource.spec.params as Obj[]).map((p) => p.name));
      const required = (resource.spec.params as Obj[]).filter((p) => p.default === undefined).map((p) => p.name);
      const workspaces = resource.spec.workspaces as Obj[];
      for (const file of readdirSync(path.join(e.dir, 'samples'))) {
        const run = load(path.join(e.dir, 'samples', file))[0]!;
        assert.equal(run.kind, e.kind === 'task' ? 'TaskRun' : 'PipelineRun', file);
        assert.equal((e.kind === 'task' ? run.spec.taskRef : run.spec.pipelineRef).name, e.name, `${e.name}/${file}`);
        const given = (run.spec.params as Obj[]).map((p) => p.name);
        for (const p of given) assert.ok(params.has(p), `${e.name}/${file}: param ${p} is declared`);
        for (const p of required) assert.ok(given.includes(p), `${e.name}/${file}: required param ${p}`);
        const bound = new Set((run.spec.workspaces as Obj[]).map((w) => w.name));
        for (const w of bound) assert.ok(workspaces.some((d) => d.name === w), `${e.name}/${file}: workspace ${w} is declared`);
        for (const w of workspaces) if (!w.optional) assert.ok(bound.has(w.name), `${e.name}/${file}: workspace ${w.name} bound`);
      }
    }
  });
});

// -------------------------------------------------------------------------------------------------
// tests/run.yaml, run

/** The test Services and keys, pointed at the local servers (every occurrence, in every field). */
function localised(text: string, servers: E2eServers): string {
  const pairs: Array<[string, string]> = [
    [CATALOG_TEST_SERVICES.s3, servers.s3.endpoint],
    [CATALOG_TEST_SERVICES.modelRegistry, servers.standinUrl.replace(/\/$/, '')],
    [CATALOG_TEST_SERVICES.registry, servers.registry.host],
    [CATALOG_TEST_S3.secretAccessKey, S3RVER_SECRET],
    [CATALOG_TEST_S3.accessKeyId, S3RVER_KEY],
  ];
  return pairs.reduce((t, [from, to]) => t.split(from).join(to), text);
}

function bindingOf(w: Obj): WorkspaceBinding {
  if (w.volumeClaimTemplate || w.persistentVolumeClaim) return { volumeClaimTemplate: true };
  if (w.emptyDir) return { emptyDir: true };
  if (w.secret) return { secret: w.secret.secretName };
  if (w.configMap) return { configMap: w.configMap.name };
  throw new Error(`unsupported workspace binding ${JSON.stringify(w)}`);
}

/** A TaskRun as a one-task Pipeline (the runner runs Pipelines); a PipelineRun of a Pipeline of run.yaml or of the catalog. */
function asPipelineRun(docs: Obj[]): { pipeline: Obj; params: Record<string, string>; workspaces: Record<string, WorkspaceBinding>; name: string } {
  const run = docs.find((d) => d.kind === 'TaskRun' || d.kind === 'PipelineRun');
  assert.ok(run, 'run.yaml holds a TaskRun or a PipelineRun');
  const params = Object.fromEntries((run.spec.params as Obj[]).map((p) => [p.name, String(p.value)]));
  const workspaces = Object.fromEntries((run.spec.workspaces as Obj[]).map((w) => [w.name, bindingOf(w)]));
  if (run.kind === 'TaskRun') {
    const task = catalogTasks.find((t) => t.metadata.name === run.spec.taskRef.name)!;
    const pipeline = {
      metadata: { name: run.metadata.name },
      spec: {
        params: Object.keys(params).map((name) => ({ name, type: 'string' })),
        workspaces: (task.spec.workspaces as Obj[]).map((w) => ({ name: w.name, optional: w.optional === true })),
        tasks: [
          {
            name: task.metadata.name,
            taskRef: { name: task.metadata.name },
            params: Object.keys(params).map((name) => ({ name, value: `$(params.${name})` })),
            workspaces: (task.spec.workspaces as Obj[]).map((w) => ({ name: w.name, workspace: w.name })),
          },
        ],
      },
    };
    return { pipeline, params, workspaces, name: run.metadata.name };
  }
  const pipeline = [...docs, ...catalogPipelines].find((d) => d.kind === 'Pipeline' && d.metadata.name === run.spec.pipelineRef.name);
  assert.ok(pipeline, `Pipeline ${run.spec.pipelineRef.name} is in run.yaml or the catalog`);
  return { pipeline, params, workspaces, name: run.metadata.name };
}

describe('tekton catalog tests/run.yaml, run against a local S3, registry and Model Registry stand-in', () => {
  let root: string;
  let servers: E2eServers | undefined;
  const skip = e2eSkip();

  before(async () => {
    assert.ok(existsSync(CLI), 'build first: npx tsc -p tsconfig.json');
    root = await tempDir('ms-tekton-catalog-');
    if (skip) return;
    const files: Record<string, Buffer | string> = {
      [`${CATALOG_TEST_S3.prefix}config.json`]: '{"model_type": "tiny"}',
      [`${CATALOG_TEST_S3.prefix}weights/model.bin`]: Buffer.alloc(200_000, 3),
    };
    servers = await startE2eServers(root, files);
  });
  after(async () => {
    await servers?.stop();
    await rm(root, { recursive: true, force: true });
  });

  for (const e of entries) {
    it(`${e.kind} ${e.name}`, async (t) => {
      if (skip) return t.skip(`needs ${skip}`);
      const objects = parseAll(localised(readFileSync(path.join(e.dir, 'tests', 'resources.yaml'), 'utf8'), servers!), 'resources.yaml') as Obj[];
      const docs = parseAll(localised(readFileSync(path.join(e.dir, 'tests', 'run.yaml'), 'utf8'), servers!), 'run.yaml') as Obj[];
      const input = asPipelineRun(docs);
      const run: EngineRun = await runTektonPipeline({ ...input, tasks: catalogTasks }, { root, objects });
      const trail = run.pods.map((p) => `${p.name}#${p.index ?? ''} exit ${p.exitCode}: ${p.termination || p.stderr.split('\n').slice(-3).join(' | ')}`).join('\n');
      assert.equal(run.status, 'Succeeded', trail);
      assert.ok(run.pods.length >= 1 && run.pods.every((p) => p.exitCode === 0), trail);
      // A run that registers leaves its RegisteredModel (named after the test) in the stand-in.
      const registers = run.pods.some((p) => p.name === 'register' || p.args[0] === 'all' || p.args[0] === 'register');
      if (registers) {
        const modelName = (objects.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>)['RegisteredModel.name'];
        const api = `${servers!.standinUrl.replace(/\/$/, '')}/api/model_registry/v1alpha3`;
        const models = (await (await fetch(`${api}/registered_models?pageSize=100`)).json()) as { items: Obj[] };
        assert.ok(models.items.some((m) => m.name === modelName), `RegisteredModel ${modelName} registered`);
      }
    });
  }
});
