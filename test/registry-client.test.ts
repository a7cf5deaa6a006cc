// The Model Registry client: base URL rules, token lookup order, custom property encoding,
// retries on 503 (and none on 400), error kinds, against the in-memory stand-in.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { ModelRegistryClient, RegistryApiError } from '../src/model-registry/client.js';
import { resolveToken } from '../src/config/settings.js';
import { registryBaseUrl } from '../src/model-registry/connection.js';
import { decodeValue, encodeCustomProperties, writableCustomProperties } from '../src/model-registry/custom-properties.js';
import { parseJsonExact } from '../src/model-registry/json-exact.js';
import { redact } from '../src/util/redact.js';
import { ModelSyncError } from '../src/errors.js';
import { tempDir } from '../dev/cli.js';
import { resolveConfig } from '../src/config/config.js';
import { StepSettings } from '../src/config/settings.js';
import { loadStep } from '../src/contract/contract.js';

describe('registry base URL', () => {
  const base = '/api/model_registry/v1alpha3';
  it('keeps a given scheme and appends the port when the address has none', () => {
    assert.equal(registryBaseUrl('http://mr.svc.cluster.local', 8080, true), `http://mr.svc.cluster.local:8080${base}`);
    assert.equal(registryBaseUrl('https://mr.example', 8443, false), `https://mr.example:8443${base}`);
  });
  it('picks https when secure and http when not, for an address without scheme', () => {
    assert.equal(registryBaseUrl('mr.example', 443, true), `https://mr.example${base}`);
    assert.equal(registryBaseUrl('mr.example', 8080, false), `http://mr.example:8080${base}`);
  });
  it('keeps a port the address carries (even the scheme default) and a path prefix', () => {
    assert.equal(registryBaseUrl('http://mr:9000', 8080, false), `http://mr:9000${base}`);
    assert.equal(registryBaseUrl('https://gw.example/mr/', 443, true), `https://gw.example/mr${base}`);
    assert.equal(registryBaseUrl('http://[::1]:8080', 1, false), `http://[::1]:8080${base}`);
  });
  it('refuses other schemes', () => {
    assert.throws(() => registryBaseUrl('ftp://mr', 21, false), /must use http or https/);
  });
});

describe('registry token lookup order', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('ms-token-');
    for (const name of ['envvar-token', 'kfp-token', 'sa-token']) await writeFile(path.join(dir, name), `${name}-value-12345\n`);
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const lookup = (o: { token?: string; tokenEnvVar?: string; env?: NodeJS.ProcessEnv; sa?: string }) =>
    resolveToken({
      token: o.token,
      tokenEnvVar: o.tokenEnvVar,
      env: o.env ?? {},
      serviceAccountTokenPath: o.sa ?? path.join(dir, 'absent'),
      describeToken: '--registry-user-token',
      describeEnvVar: '--registry-user-token-envvar',
    });

  it('prefers the token value, then the file named by the env var, then KF_PIPELINES_SA_TOKEN_PATH, then the SA token', () => {
    const env = { MY_TOKEN_PATH: path.join(dir, 'envvar-token'), KF_PIPELINES_SA_TOKEN_PATH: path.join(dir, 'kfp-token') };
    const sa = path.join(dir, 'sa-token');
    assert.equal(lookup({ token: 'direct-token-value', tokenEnvVar: 'MY_TOKEN_PATH', env, sa }).token, 'direct-token-value');
    assert.equal(lookup({ tokenEnvVar: 'MY_TOKEN_PATH', env, sa }).token, 'envvar-token-value-12345');
    assert.equal(lookup({ env, sa }).token, 'kfp-token-value-12345');
    assert.equal(lookup({ sa }).token, 'sa-token-value-12345');
    assert.equal(lookup({}).token, undefined);
  });
  it('falls through when the named env var is unset, and fails clearly when a named file is missing', () => {
    assert.equal(lookup({ tokenEnvVar: 'UNSET_VAR', sa: path.join(dir, 'sa-token') }).token, 'sa-token-value-12345');
    assert.throws(() => lookup({ tokenEnvVar: 'X', env: { X: path.join(dir, 'nope') } }), (err: Error) => err instanceof ModelSyncError && err.kind === 'config' && /nope.*\$X/.test(err.message));
  });
  it('registers every token found as a secret', () => {
    lookup({ sa: path.join(dir, 'sa-token') });
    assert.equal(redact('token sa-token-value-12345 here'), 'token [REDACTED] here');
  });
});

describe('where model-sync is more lenient than upstream (README differences table)', () => {
  const settingsOf = (env: Record<string, string>) =>
    new StepSettings(resolveConfig({ step: loadStep('register'), flags: { modelArtifactId: '1' }, env }), { env, serviceAccountTokenPath: '/nonexistent/sa-token' });
  it('--registry-log-level takes upstream numbers and also names (upstream: an int only)', () => {
    const level = (v: string) => settingsOf({ MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'http://mr', MODEL_SYNC_REGISTRY_LOG_LEVEL: v }).modelRegistry().logLevel;
    assert.deepEqual(['10', '20', '30', '40', 'DEBUG', 'warning', 'Error'].map(level), ['debug', 'info', 'warn', 'error', 'debug', 'warn', 'error']);
  });
  it('a secure connection without any token warns and sends no Authorization (upstream refuses)', () => {
    const warnings: string[] = [];
    const { connection } = settingsOf({ MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'mr.example', MODEL_SYNC_REGISTRY_IS_SECURE: 'true' }).modelRegistry({ warn: (m) => warnings.push(m) });
    assert.equal(connection.baseUrl, 'https://mr.example/api/model_registry/v1alpha3');
    assert.equal(connection.token, undefined);
    assert.deepEqual(warnings, ['no Model Registry token found; sending requests without Authorization']);
  });
});

describe('custom properties', () => {
  it('maps JSON values to metadataType as documented, keeping big integers exact', () => {
    const values = parseJsonExact('{"s":"x","i":438,"neg":-2147483648,"d":0.95,"b":true,"wide":3000000000,"huge":12345678901234567890,"list":["en","es"],"obj":{"a":[1,2]}}');
    const props = encodeCustomProperties(values as Record<string, never>)!;
    assert.deepEqual(props.s, { metadataType: 'MetadataStringValue', string_value: 'x' });
    assert.deepEqual(props.i, { metadataType: 'MetadataIntValue', int_value: '438' });
    assert.deepEqual(props.neg, { metadataType: 'MetadataIntValue', int_value: '-2147483648' });
    assert.deepEqual(props.d, { metadataType: 'MetadataDoubleValue', double_value: 0.95 });
    assert.deepEqual(props.b, { metadataType: 'MetadataBoolValue', bool_value: true });
    assert.deepEqual(props.wide, { metadataType: 'MetadataDoubleValue', double_value: 3000000000 });
    assert.deepEqual(props.huge, { metadataType: 'MetadataStringValue', string_value: '12345678901234567890' });
    assert.equal(props.list?.metadataType, 'MetadataStructValue');
    assert.deepEqual(decodeValue(props.list!), { list: ['en', 'es'] });
    assert.deepEqual(decodeValue(props.obj!), { a: [1, 2] });
  });
  it('re-encodes struct values read back as plain JSON so that a PATCH keeps them', () => {
    const read = { s: { metadataType: 'MetadataStructValue' as const, struct_value: '{"a":1}' } };
    const writable = writableCustomProperties(read);
    assert.equal(Buffer.from((writable.s as { struct_value: string }).struct_value, 'base64').toString(), '{"a":1}');
  });
});

describe('registry client against the stand-in', () => {
  let standin: Standin;
  let client: ModelRegistryClient;
  before(async () => {
    standin = await startStandin();
    client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false, token: 'client-test-token' }, { baseDelayMs: 5 });
  });
  after(async () => {
    client.close();
    await standin.stop();
  });

  it('retries a 503 and then succeeds', async () => {
    standin.state.faults.push({ method: 'POST', path: '/registered_models', status: 503, times: 2 });
    const model = await client.createRegisteredModel({ name: 'retry-me', state: 'LIVE' });
    assert.equal(model.name, 'retry-me');
    const posts = standin.state.exchanges.filter((e) => e.method === 'POST' && e.path.endsWith('/registered_models'));
    assert.deepEqual(posts.map((e) => e.status), [503, 503, 201]);
  });

  it('does not retry a 400 and reports the status and the server message', async () => {
    const before = standin.state.exchanges.length;
    await assert.rejects(
      client.request('POST', '/registered_models', { body: { name: 'x', bogus: 1 } }),
      (err: Error) => err instanceof RegistryApiError && err.status === 400 && err.kind === 'config' && /HTTP 400: json: unknown field "bogus"/.test(err.message),
    );
    assert.equal(standin.state.exchanges.length - before, 1);
  });

  it('maps 401 to the auth kind and 409 to a precondition', async () => {
    standin.state.requiredToken = 'another-token';
    await assert.rejects(client.findRegisteredModel('x'), (err: Error) => err instanceof ModelSyncError && err.kind === 'auth' && /HTTP 401/.test(err.message));
    delete standin.state.requiredToken;
    await assert.rejects(client.createRegisteredModel({ name: 'retry-me', state: 'LIVE' }), (err: Error) => err instanceof ModelSyncError && err.kind === 'precondition' && /already exists/.test(err.message));
  });

  it('sends the Bearer token', () => {
    assert.ok(standin.state.exchanges.every((e) => e.authorization === 'Bearer client-test-token'));
  });

  it('answers undefined for a missing entity', async () => {
    assert.equal(await client.getRegisteredModel('999'), undefined);
    assert.equal(await client.getModelArtifact('999'), undefined);
  });

  it('a PATCH with state keeps the other fields; the server resets an omitted state', async () => {
    const model = await client.createRegisteredModel({ name: 'patch-me', state: 'LIVE' });
    const version = await client.createModelVersion({ name: 'v1', registeredModelId: model.id, state: 'LIVE' });
    const artifact = await client.createModelVersionArtifact(version.id, { artifactType: 'model-artifact', name: 'a', uri: 'PLACEHOLDER', modelFormatName: 'onnx', state: 'LIVE' });
    const pending = await client.updateModelArtifact(artifact.id, { state: 'PENDING' });
    assert.equal(pending.state, 'PENDING');
    assert.equal(pending.modelFormatName, 'onnx');
    assert.equal(pending.uri, 'PLACEHOLDER');
    const reset = await client.request<{ state: string }>('PATCH', `/model_artifacts/${artifact.id}`, { body: { uri: 'x' } });
    assert.equal(reset.state, 'UNKNOWN');
  });

  it('refuses an answer of the wrong shape as transient, naming the call and what was wrong', async () => {
    await client.createRegisteredModel({ name: 'shape-me', state: 'LIVE' });
    standin.state.faults.push({ method: 'GET', path: '/registered_model', body: [1, 2, 3], times: 1 });
    await assert.rejects(
      client.findRegisteredModel('shape-me'),
      (err: Error) =>
        err instanceof ModelSyncError &&
        err.kind === 'transient' &&
        err.message === 'Model Registry GET /api/model_registry/v1alpha3/registered_model?name=shape-me: invalid answer (HTTP 200): not the RegisteredModel shape: the answer must be object',
    );
    const model = (await client.findRegisteredModel('shape-me'))!;
    standin.state.faults.push({ method: 'GET', path: /\/versions$/, body: { items: [{ name: 'v1', registeredModelId: model.id }], nextPageToken: '', pageSize: 1, size: 1 }, times: 1 });
    await assert.rejects(client.listRegisteredModelVersions(model.id), (err: Error) => err instanceof ModelSyncError && err.kind === 'transient' && /versions\?.*not the ModelVersionList shape: items\.0 must have required property 'id'$/.test(err.message));
  });

  it('retries refused connections, then fails as transient naming the URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const dead = new ModelRegistryClient({ baseUrl: `http://127.0.0.1:${port}/api/model_registry/v1alpha3`, verifyTls: false }, { baseDelayMs: 1, attempts: 3 });
    await assert.rejects(dead.getRegisteredModel('1'), (err: Error) => err instanceof ModelSyncError && err.kind === 'transient' && /ECONNREFUSED/.test(err.message) && err.message.includes('/registered_models/1'));
    dead.close();
  });
});

