// Every request model-sync sends to Model Registry and every answer the stand-in gives, checked
// against the operation's schemas in ../shared/specs/model-registry-openapi.yaml (read in place).
// Request bodies must also hold no property the schema does not define (the server refuses them).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { startStandin, type Exchange, type Standin } from '../dev/model-registry-standin.js';
import { ModelRegistryClient } from '../src/model-registry/client.js';
import { REPO_ROOT, runCli, tempDir } from '../dev/cli.js';
import { localPathEnv, metadataFolder, registryEnv, SAMPLE_CREATE_MODEL } from './support/model-registry.js';
import { mapValues, toJsonSchema } from '../scripts/lib/openapi-json-schema.js';

const SPEC = path.join(REPO_ROOT, '..', 'shared', 'specs', 'model-registry-openapi.yaml');
const skip = existsSync(SPEC) ? false : `OpenAPI spec not found at ${SPEC}; skipped`;
if (skip) console.log(`# ${skip}`);

type Schema = Record<string, unknown>;
interface Operation {
  method: string;
  pattern: RegExp;
  template: string;
  op: Schema;
  pathParams: Schema[];
}

describe('Model Registry traffic against the OpenAPI spec', { skip }, () => {
  let spec: Schema;
  let ajv: Ajv;
  let operations: Operation[];
  let standin: Standin;
  const dirs: string[] = [];
  const validators = new Map<string, ValidateFunction>();

  before(async () => {
    spec = parse(readFileSync(SPEC, 'utf8')) as Schema;
    const schemas = (spec.components as Schema).schemas as Schema;
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ $id: 'spec', definitions: mapValues(schemas, toJsonSchema) });
    operations = [];
    for (const [template, item] of Object.entries(spec.paths as Record<string, Schema>)) {
      const pattern = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$');
      for (const method of ['get', 'post', 'patch', 'put', 'delete']) {
        if (item[method]) operations.push({ method: method.toUpperCase(), pattern, template, op: item[method] as Schema, pathParams: (item.parameters as Schema[]) ?? [] });
      }
    }
    standin = await startStandin();
  });
  after(async () => {
    await standin.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const deref = (node: Schema): Schema => {
    let n = node;
    while (typeof n.$ref === 'string') {
      const parts = n.$ref.replace(/^#\//, '').split('/');
      n = parts.reduce<Schema>((acc, p) => acc[p] as Schema, spec);
    }
    return n;
  };
  const validator = (key: string, schema: unknown): ValidateFunction => {
    let v = validators.get(key);
    if (!v) {
      const json = JSON.stringify(toJsonSchema(schema)).replace(/"#\/definitions\//g, '"spec#/definitions/');
      v = ajv.compile(JSON.parse(json) as Schema);
      validators.set(key, v);
    }
    return v;
  };
  /** Property names a schema defines, through $ref and allOf. */
  const knownProperties = (schema: Schema, out = new Set<string>()): Set<string> => {
    const s = deref(schema);
    for (const k of Object.keys((s.properties as Schema) ?? {})) out.add(k);
    for (const sub of (s.allOf as Schema[]) ?? []) knownProperties(sub, out);
    return out;
  };

  function check(e: Exchange): string[] {
    const problems: string[] = [];
    const sub = e.path;
    const op = operations.find((o) => o.method === e.method && o.pattern.test(sub));
    if (!op) return [`${e.method} ${sub}: no such operation in the spec`];
    const label = `${e.method} ${op.template}`;
    const params = [...op.pathParams, ...((op.op.parameters as Schema[]) ?? [])].map(deref);
    for (const [name, value] of Object.entries(e.query)) {
      const p = params.find((x) => x.in === 'query' && x.name === name);
      if (!p) problems.push(`${label}: query parameter ${name} is not in the spec`);
      else if (!validator(`${label} q ${name}`, p.schema)(value)) problems.push(`${label}: query ${name}=${value}: ${ajv.errorsText(validators.get(`${label} q ${name}`)!.errors)}`);
    }
    const pathValues = sub.split('/');
    op.template.split('/').forEach((seg, i) => {
      const m = /^\{(.+)\}$/.exec(seg);
      if (!m) return;
      const p = params.find((x) => x.in === 'path' && x.name === m[1]);
      if (p && !validator(`${label} p ${m[1]}`, p.schema)(pathValues[i])) problems.push(`${label}: path ${m[1]}=${pathValues[i]} invalid`);
    });
    const bodySchema = ((deref((op.op.requestBody as Schema) ?? {}).content as Schema)?.['application/json'] as Schema)?.schema as Schema | undefined;
    if (e.requestBody !== undefined) {
      if (!bodySchema) problems.push(`${label}: sent a body the operation does not take`);
      else {
        const v = validator(`${label} body`, bodySchema);
        if (!v(e.requestBody)) problems.push(`${label}: request body: ${ajv.errorsText(v.errors)}`);
        const schemaForProps = deref(bodySchema).oneOf ? deref({ $ref: '#/components/schemas/ModelArtifact' }) : bodySchema;
        const known = knownProperties(schemaForProps);
        for (const k of Object.keys(e.requestBody as Schema)) if (!known.has(k)) problems.push(`${label}: request body field ${k} is not in the schema`);
      }
    }
    const responses = op.op.responses as Record<string, Schema>;
    const response = responses[String(e.status)];
    if (!response) problems.push(`${label}: status ${e.status} is not a documented answer`);
    else {
      const schema = ((deref(response).content as Schema)?.['application/json'] as Schema)?.schema;
      if (schema) {
        const v = validator(`${label} ${e.status}`, schema);
        if (!v(e.responseBody)) problems.push(`${label}: ${e.status} response: ${ajv.errorsText(v.errors)} in ${JSON.stringify(e.responseBody).slice(0, 300)}`);
      }
    }
    return problems;
  }

  it('holds for create_model, create_version, update_artifact, mark-failed, re-runs and error answers', async () => {
    const ws = () => tempDir('ms-ws-').then((d) => (dirs.push(d), d));
    const meta = (files: Record<string, string>) => metadataFolder(files, { volume: true }).then((d) => (dirs.push(d), d));
    const local = await localPathEnv(await ws()); // preflight checks the path before the registry
    const base = (extra: Record<string, string | undefined>) => registryEnv(standin, { ...local, ...extra });

    // create_model, twice (the second run recognises its own entities)
    const cm = base({ MODEL_SYNC_STORAGE_PATH: await ws(), MODEL_SYNC_METADATA_CONFIGMAP_PATH: await meta(SAMPLE_CREATE_MODEL), MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model', MODEL_SYNC_MODEL_URI: 'oci://r/m:1' });
    for (const step of ['preflight', 'register', 'register']) assert.equal((await runCli([step], cm)).code, 0, step);
    const client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false });
    const model = (await client.findRegisteredModel('sentiment'))!;
    // create_version, with a crash and a fresh-workspace re-run
    const cvMeta = await meta({ 'ModelVersion.name': '2.0.0', 'ModelVersion.customProperties': '{"n": 1, "big": 99999999999}' });
    standin.state.faults.push({ method: 'POST', path: /^\/model_versions\/\d+\/artifacts$/, status: 500, times: 5 });
    const cv = (w: string) => base({ MODEL_SYNC_STORAGE_PATH: w, MODEL_SYNC_METADATA_CONFIGMAP_PATH: cvMeta, MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_version', MODEL_SYNC_MODEL_ID: model.id, MODEL_SYNC_MODEL_URI: 'oci://r/m:2' });
    const cvWs = await ws();
    assert.notEqual((await runCli(['register'], cv(cvWs))).code, 0);
    assert.equal((await runCli(['mark-failed', '--failure-reason', 'x'], cv(cvWs))).code, 0);
    assert.equal((await runCli(['register'], cv(await ws()))).code, 0);
    // update_artifact: preflight, mark-failed, preflight again, register
    const version = (await client.findModelVersion('2.0.0', model.id))!;
    const artifact = (await client.listModelVersionArtifacts(version.id))[0]!;
    const ua = base({ MODEL_SYNC_STORAGE_PATH: await ws(), MODEL_SYNC_MODEL_UPLOAD_INTENT: 'update_artifact', MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id, MODEL_SYNC_MODEL_URI: 'oci://r/m:3' });
    for (const step of ['preflight', 'mark-failed', 'preflight', 'register']) assert.equal((await runCli([step], ua)).code, 0, step);
    // error answers: 404 and 409
    assert.notEqual((await runCli(['preflight'], { ...ua, MODEL_SYNC_MODEL_ARTIFACT_ID: '424242' })).code, 0);
    await assert.rejects(client.createRegisteredModel({ name: 'sentiment', state: 'LIVE' }));
    client.close();

    const exchanges = standin.state.exchanges.map((e) => ({ ...e, path: e.path }));
    assert.ok(exchanges.length > 30, `enough traffic to be meaningful (${exchanges.length})`);
    for (const status of [200, 201, 404, 409, 500]) assert.ok(exchanges.some((e) => e.status === status), `traffic includes a ${status}`);
    const problems = exchanges.flatMap(check);
    assert.deepEqual(problems, []);
  });

  it('the checker itself catches a body with an unknown field and a wrong int_value', () => {
    const bad: Exchange = {
      method: 'PATCH',
      path: '/api/model_registry/v1alpha3/model_artifacts/1',
      query: {},
      requestBody: { name: 'x', state: 'LIVE', customProperties: { n: { metadataType: 'MetadataIntValue', int_value: '99999999999' } } },
      status: 200,
      responseBody: { artifactType: 'model-artifact', id: 1 },
    };
    const problems = check(bad).join('\n');
    assert.match(problems, /request body field name is not in the schema/);
    assert.match(problems, /int_value/);
    assert.match(problems, /200 response/);
  });
});
