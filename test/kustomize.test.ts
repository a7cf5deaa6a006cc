// deploy/ (issue 17, item 1) built with a real kustomize (`kubectl kustomize`, kustomize 5): each
// overlay builds, every resource validates against the schemas in ../shared/specs (Role and
// RoleBinding, which have none there, are checked structurally), an `images:` override reaches
// every image field of the output, Argo's and Tekton's included, and the volume size set in one
// place reaches the PVC and the WorkflowTemplate's claim.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { REPO_ROOT } from '../dev/cli.js';
import { parseAll, SchemaSet } from './support/template-schemas.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const DEPLOY = path.join(REPO_ROOT, 'deploy');
const ENGINES = ['argo', 'tekton', 'job'] as const;

function kustomize(dir: string): Doc[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  if (r.error) throw new Error(`kubectl is needed for the kustomize tests (kubectl 1.27+ has kustomize 5 built in): ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  return parseAll(r.stdout, dir) as Doc[];
}

/** Every value of an `image` key anywhere in `doc`, with its path. */
function imageFields(doc: unknown, at = ''): Array<{ at: string; image: string }> {
  if (Array.isArray(doc)) return doc.flatMap((d, i) => imageFields(d, `${at}[${i}]`));
  if (!doc || typeof doc !== 'object') return [];
  return Object.entries(doc as Doc).flatMap(([k, v]) => (k === 'image' && typeof v === 'string' ? [{ at: `${at}.${k}`, image: v }] : imageFields(v, `${at}.${k}`)));
}

function assertRbac(doc: Doc): void {
  assert.equal(doc.apiVersion, 'rbac.authorization.k8s.io/v1');
  assert.equal(typeof doc.metadata?.name, 'string');
  if (doc.kind === 'Role') {
    assert.ok(Array.isArray(doc.rules) && doc.rules.length > 0);
    for (const r of doc.rules) for (const f of ['apiGroups', 'resources', 'verbs']) assert.ok(Array.isArray(r[f]) && r[f].every((x: unknown) => typeof x === 'string'), `rules[].${f}`);
  } else {
    assert.deepEqual(Object.keys(doc.roleRef).sort(), ['apiGroup', 'kind', 'name']);
    assert.ok(doc.subjects.every((s: Doc) => s.kind === 'ServiceAccount' && typeof s.name === 'string'));
  }
}

describe('kustomize: deploy/ overlays for Argo, Tekton and the plain Job', () => {
  let scratch: string;
  const schemas = new SchemaSet();
  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'ms-kustomize-'));
    execFileSync('kubectl', ['version', '--client'], { stdio: 'pipe' }); // fails with a clear error when kubectl is missing
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  for (const engine of ENGINES) {
    it(`${engine}: builds, and every resource validates against ../shared/specs`, () => {
      const docs = kustomize(path.join(DEPLOY, 'overlays', engine));
      const kinds = docs.map((d) => d.kind);
      for (const k of ['Namespace', 'ServiceAccount', 'PersistentVolumeClaim', 'Secret']) assert.ok(kinds.includes(k), `${engine} has a ${k}`);
      assert.ok(!kinds.includes('ConfigMap') || docs.every((d) => d.kind !== 'ConfigMap' || d.metadata.name !== 'model-sync-deploy'), 'the settings ConfigMap stays out (local-config)');
      for (const d of docs) {
        assert.equal(d.metadata.namespace ?? (d.kind === 'Namespace' ? 'model-sync' : undefined), 'model-sync', `${d.kind}/${d.metadata.name} is namespaced`);
        if (d.kind === 'Role' || d.kind === 'RoleBinding') assertRbac(d);
        else if (d.kind !== 'Namespace') assert.deepEqual(schemas.validate(d), [], `${d.kind}/${d.metadata.name}`);
      }
      if (engine === 'argo') {
        const role = docs.find((d) => d.kind === 'Role')!;
        assert.deepEqual(role.rules, [{ apiGroups: ['argoproj.io'], resources: ['workflowtaskresults'], verbs: ['create', 'patch'] }], "Argo's executor reports results");
        const wt = docs.find((d) => d.kind === 'WorkflowTemplate')!;
        assert.equal(wt.spec.serviceAccountName, 'model-sync');
        for (const t of wt.spec.templates.filter((x: Doc) => x.container)) assert.equal(t.metadata.annotations['sidecar.istio.io/inject'], 'false', t.name);
      }
      if (engine === 'tekton') {
        for (const t of docs.filter((d) => d.kind === 'Task')) assert.equal(t.metadata.annotations['sidecar.istio.io/inject'], 'false', t.metadata.name);
        assert.equal(docs.filter((d) => d.kind === 'Pipeline').length, 3);
      }
      if (engine === 'job') {
        const job = docs.find((d) => d.kind === 'Job')!;
        assert.equal(job.spec.template.metadata.annotations['sidecar.istio.io/inject'], 'false');
        assert.equal(job.spec.template.spec.serviceAccountName, 'model-sync');
        assert.deepEqual(job.spec.template.spec.volumes.find((v: Doc) => v.name === 'workspace').persistentVolumeClaim, { claimName: 'model-sync-workspace' });
      }
    });

    it(`${engine}: an images: override and the volume settings reach every field`, async () => {
      // As a user would: a copy of deploy/, the image set in the overlay (kustomize edit set image),
      // the size and storage class in base/settings.yaml, the storage-class component added.
      const copy = path.join(scratch, engine);
      await cp(DEPLOY, copy, { recursive: true });
      const overlayFile = path.join(copy, 'overlays', engine, 'kustomization.yaml');
      const overlay = YAML.parse(await readFile(overlayFile, 'utf8')) as Doc;
      overlay.images = [{ name: 'ghcr.io/model-sync/model-sync', newName: 'mirror.example.com/ml/model-sync', digest: `sha256:${'a'.repeat(64)}` }];
      overlay.components.push('../../components/storage-class');
      await writeFile(overlayFile, YAML.stringify(overlay));
      const settingsFile = path.join(copy, 'base', 'settings.yaml');
      await writeFile(settingsFile, (await readFile(settingsFile, 'utf8')).replace(/workspace-size: .*/, 'workspace-size: 123Gi').replace(/storage-class: .*/, 'storage-class: fast-ssd'));
      const dir = path.dirname(overlayFile);
      const docs = kustomize(dir);
      const images = docs.flatMap((d) => imageFields(d, `${d.kind}/${d.metadata.name}`));
      assert.ok(images.length >= (engine === 'job' ? 1 : 9), `${images.length} image fields`);
      for (const i of images) assert.equal(i.image, `mirror.example.com/ml/model-sync@sha256:${'a'.repeat(64)}`, i.at);
      const pvc = docs.find((d) => d.kind === 'PersistentVolumeClaim')!;
      assert.equal(pvc.spec.resources.requests.storage, '123Gi');
      assert.equal(pvc.spec.storageClassName, 'fast-ssd');
      const wt = docs.find((d) => d.kind === 'WorkflowTemplate');
      if (wt) {
        assert.equal(wt.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '123Gi');
        assert.equal(wt.spec.volumeClaimTemplates[0].spec.storageClassName, 'fast-ssd');
      }
    });
  }

  it('the InferenceService sample serves a modelcar by oci:// storageUri', async () => {
    const [isvc] = parseAll(await readFile(path.join(DEPLOY, 'samples', 'inferenceservice.yaml'), 'utf8'), 'inferenceservice.yaml') as Doc[];
    assert.equal(isvc!.apiVersion, 'serving.kserve.io/v1beta1');
    assert.equal(isvc!.kind, 'InferenceService');
    assert.match(isvc!.spec.predictor.model.storageUri, /^oci:\/\/[^/]+\/.+:[^/]+$/);
    assert.equal(typeof isvc!.spec.predictor.model.modelFormat.name, 'string');
  });
});
