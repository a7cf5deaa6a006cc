// Loads every generated YAML document and the schemas to check them against: the Argo and Tekton
// CRDs in ../shared/specs made strict the way Argo's own crd_examples_test does, and the strict
// Kubernetes JSON schemas. Absent specs are reported, not faked.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import YAML from 'yaml';
import { REPO_ROOT } from '../../dev/cli.js';

export const SPECS_DIR = path.resolve(REPO_ROOT, '../shared/specs');
export const TEMPLATE_FOLDERS = ['workflows', 'tekton', 'samples'];

export interface LoadedDoc {
  file: string;
  index: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents are walked freely in tests
  doc: Record<string, any>;
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

export function templateFiles(): string[] {
  return TEMPLATE_FOLDERS.flatMap((f) => yamlFiles(path.join(REPO_ROOT, f))).sort();
}

/** Parses a multi-document YAML text; duplicate keys and any other YAML error throw. */
export function parseAll(text: string, file: string): Record<string, unknown>[] {
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const out: Record<string, unknown>[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    const value = d.toJS() as unknown;
    if (value === null || value === undefined) continue;
    out.push(value as Record<string, unknown>);
  }
  return out;
}

export function loadTemplateDocs(): LoadedDoc[] {
  return templateFiles().flatMap((file) =>
    parseAll(readFileSync(file, 'utf8'), file).map((doc, index) => ({ file: path.relative(REPO_ROOT, file), index, doc })),
  );
}

type Schema = Record<string, unknown>;

/**
 * additionalProperties:false on every object that lists properties and keeps no unknown fields;
 * int-or-string as integer|string; metadata left open.
 */
export function strictify(schema: unknown, atRoot = true): unknown {
  if (Array.isArray(schema)) return schema.map((s) => strictify(s, false));
  if (!schema || typeof schema !== 'object') return schema;
  const s = { ...(schema as Schema) };
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && v && typeof v === 'object') {
      s[k] = Object.fromEntries(Object.entries(v as Schema).map(([pk, pv]) => [pk, strictify(pv, false)]));
    } else if (typeof v === 'object') {
      s[k] = strictify(v, false);
    }
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    delete s.type;
    delete s.anyOf;
    s.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (s.properties && !s['x-kubernetes-preserve-unknown-fields'] && s.additionalProperties === undefined) {
    s.additionalProperties = false;
  }
  if (atRoot && s.properties) {
    (s.properties as Schema).metadata = { type: 'object' };
  }
  return s;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

interface Crd {
  spec: { names: { kind: string }; group: string; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
}

/** Validators keyed by `apiVersion kind`, compiled on first use. */
export class SchemaSet {
  private readonly ajv = newAjv();
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly sources = new Map<string, () => Schema>();
  readonly missing: string[] = [];

  constructor(readonly specsDir = SPECS_DIR) {
    const crd = (rel: string) => {
      const file = path.join(specsDir, rel);
      if (!existsSync(file)) {
        this.missing.push(rel);
        return;
      }
      const docs = parseAll(readFileSync(file, 'utf8'), file) as unknown as Crd[];
      for (const d of docs) {
        for (const v of d.spec.versions) {
          this.sources.set(`${d.spec.group}/${v.name} ${d.spec.names.kind}`, () => strictify(v.schema.openAPIV3Schema) as Schema);
        }
      }
    };
    crd('argo/argoproj.io_workflowtemplates.yaml');
    crd('argo/argoproj.io_clusterworkflowtemplates.yaml');
    crd('argo/argoproj.io_workflows.yaml');
    for (const t of ['task', 'pipeline', 'taskrun', 'pipelinerun', 'stepaction']) crd(`tekton/300-${t}.yaml`);
    const k8s = (key: string, rel: string) => {
      const file = path.join(specsDir, rel);
      if (!existsSync(file)) {
        this.missing.push(rel);
        return;
      }
      this.sources.set(key, () => {
        const schema = JSON.parse(readFileSync(file, 'utf8')) as Schema;
        delete schema.$schema;
        return schema;
      });
    };
    k8s('batch/v1 Job', 'kubernetes/job-batch-v1.json');
    k8s('v1 ConfigMap', 'kubernetes/configmap-v1.json');
    k8s('v1 Secret', 'kubernetes/secret-v1.json');
    k8s('v1 PersistentVolumeClaim', 'kubernetes/persistentvolumeclaim-v1.json');
    k8s('v1 ServiceAccount', 'kubernetes/serviceaccount-v1.json');
  }

  has(apiVersion: string, kind: string): boolean {
    return this.sources.has(`${apiVersion} ${kind}`);
  }

  /** Error lines, [] when valid. Throws when no schema is known for the kind. */
  validate(doc: Record<string, unknown>): string[] {
    const key = `${String(doc.apiVersion)} ${String(doc.kind)}`;
    let fn = this.compiled.get(key);
    if (!fn) {
      const source = this.sources.get(key);
      if (!source) throw new Error(`no schema for ${key}`);
      fn = this.ajv.compile(source());
      this.compiled.set(key, fn);
    }
    if (fn(doc)) return [];
    return (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`);
  }
}

/** The Kubernetes Volume schema, for Tekton Task `volumes` (an opaque list in the Task CRD). */
export function volumeValidator(specsDir = SPECS_DIR): ValidateFunction | undefined {
  const file = path.join(specsDir, 'kubernetes/volume-v1.json');
  if (!existsSync(file)) return undefined;
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Schema;
  delete schema.$schema;
  return newAjv().compile(schema);
}
