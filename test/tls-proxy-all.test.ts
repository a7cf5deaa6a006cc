// `model-sync all` through a real squid to host names only squid resolves, twice: once with S3,
// the OCI registry (and its token realm, another name) and the Model Registry stand-in over TLS
// behind a test CA, verification on, each trusted by its own setting (--source-aws-ca-bundle, a
// certs.d folder per host, --registry-custom-ca); once with all three over plain HTTP (the registry
// with verification off, as skopeo's --tls-verify=false allows). squid's access log shows that
// every host was reached through it, and the machine's CA variables are emptied, so only the
// settings can have trusted the test CA.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { runCli, tempDir } from '../dev/cli.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startRegistry, type TestRegistry } from '../dev/registry.js';
import { startS3Server, S3RVER_KEY, S3RVER_SECRET, type S3Server } from '../dev/s3-server.js';
import { ModelRegistryClient } from '../src/model-registry/client.js';
import { metadataFolder, SAMPLE_CREATE_MODEL } from './support/model-registry.js';
import { proxyEnv, startSquid, type Squid } from './support/squid.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { startTlsFront, type TlsFront } from './support/tls-front.js';
import { missingTools } from './support/requirements.js';

const run = promisify(execFile);
const DOMAIN = 'model-sync.test';
const S3_HOST = `s3.${DOMAIN}`;
const REGISTRY_HOST = `registry.${DOMAIN}`;
const TOKEN_HOST = `token.${DOMAIN}`;
const MR_HOST = `mr.${DOMAIN}`;
const NO_CA_ENV = { SSL_CERT_FILE: '', NODE_EXTRA_CA_CERTS: '', AWS_CA_BUNDLE: '' };

const skip = missingTools('squid', 'registry', 'skopeo', 'busybox');

/** Both proxies at squid; NO_PROXY as a cluster sets it (no test name matches it). */
const throughSquid = (url: string) => proxyEnv({ http: url, https: url, noProxy: '*.svc.cluster.local' });

const port = (url: string) => new URL(url).port;

describe('all through squid: S3, OCI registry and Model Registry over TLS (test CA) and over plain HTTP', { skip }, () => {
  let ca: TestCa;
  let squid: Squid;
  let s3: S3Server;
  let tlsRegistry: TestRegistry;
  let plainRegistry: TestRegistry;
  let standin: Standin;
  let s3Front: TlsFront;
  let mrFront: TlsFront;
  let client: ModelRegistryClient;
  let work: string;
  let certsDir: string;

  before(async () => {
    ca = createTestCa('model-sync e2e test CA');
    const loopback = ca.issue([S3_HOST, MR_HOST]);
    const registryCert = ca.issue([REGISTRY_HOST, TOKEN_HOST]);
    [s3, tlsRegistry, plainRegistry, standin] = await Promise.all([
      startS3Server('models', { serviceEndpoint: DOMAIN }),
      startRegistry({ mode: 'token', tls: { keyPath: registryCert.keyPath, certPath: registryCert.certPath }, realm: (realm) => realm.replace('127.0.0.2', TOKEN_HOST) }),
      startRegistry({ mode: 'plain', bind: '127.0.0.2' }),
      startStandin(),
    ]);
    [s3Front, mrFront] = await Promise.all([startTlsFront({ host: '127.0.0.1', port: Number(port(s3.endpoint)) }, loopback), startTlsFront({ host: '127.0.0.1', port: Number(port(standin.url)) }, loopback)]);
    squid = await startSquid({ [S3_HOST]: '127.0.0.1', [MR_HOST]: '127.0.0.1', [REGISTRY_HOST]: '127.0.0.2', [TOKEN_HOST]: '127.0.0.2' });
    client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false });
    await s3.put('sentiment/v1/model.onnx', Buffer.alloc(128 * 1024, 3));
    await s3.put('sentiment/v1/config.json', Buffer.from('{"arch":"tiny"}'));
    work = await tempDir('ms-e2e-ca-');
    // One certs.d folder per host: the registry and its token realm (another name, another port).
    certsDir = path.join(work, 'certs.d');
    const realmPort = new URL(tlsRegistry.tokenService!.realm).port;
    for (const host of [`${REGISTRY_HOST}:${tlsRegistry.host.split(':')[1]}`, `${TOKEN_HOST}:${realmPort}`]) {
      mkdirSync(path.join(certsDir, host), { recursive: true });
      copyFileSync(ca.certPath, path.join(certsDir, host, 'ca.crt'));
    }
    const base = path.join(work, 'base');
    await buildBusyboxBase(base);
    const skopeoEnv = { ...process.env, ...throughSquid(squid.url), NO_PROXY: '127.0.0.2' };
    await Promise.all([
      run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${REGISTRY_USER}:${REGISTRY_PASSWORD}`, `oci:${base}:latest`, `docker://${tlsRegistry.host}/library/busybox:latest`], { env: { ...skopeoEnv, NO_PROXY: '' } }),
      run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${plainRegistry.host}/library/busybox:latest`], { env: skopeoEnv }),
    ]);
  });
  after(async () => {
    client?.close();
    await Promise.all([squid?.stop(), s3?.stop(), tlsRegistry?.stop(), plainRegistry?.stop(), standin?.stop(), s3Front?.stop(), mrFront?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
    ca?.remove();
  });

  async function runAll(name: string, env: Record<string, string>): Promise<{ log: string; uri: string }> {
    const ws = path.join(work, `ws-${name}`);
    const metadata = await metadataFolder({ ...SAMPLE_CREATE_MODEL, 'RegisteredModel.name': name });
    try {
      const before = (await squid.accessLog()).length;
      const r = await runCli(['all'], {
        MODEL_SYNC_STORAGE_PATH: ws,
        MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
        MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
        MODEL_SYNC_SOURCE_TYPE: 's3',
        MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
        MODEL_SYNC_SOURCE_AWS_KEY: 'sentiment/v1',
        MODEL_SYNC_SOURCE_AWS_REGION: 'us-east-1',
        MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY,
        MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
        MODEL_SYNC_DESTINATION_TYPE: 'oci',
        MODEL_SYNC_RETRY_ATTEMPTS: '1',
        ...NO_CA_ENV,
        ...throughSquid(squid.url),
        ...env,
      }, { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const model = (await client.findRegisteredModel(name))!;
      const version = (await client.findModelVersion('1.0.0', model.id))!;
      const [artifact] = await client.listModelVersionArtifacts(version.id);
      assert.equal(artifact!.state, 'LIVE');
      return { log: (await squid.accessLog()).slice(before), uri: artifact!.uri! };
    } finally {
      await rm(metadata, { recursive: true, force: true });
    }
  }

  /** Every service over TLS, each trusted by its own setting. */
  function tlsEnv(): Record<string, string> {
    const registryPort = tlsRegistry.host.split(':')[1]!;
    return {
      MODEL_SYNC_SOURCE_AWS_ENDPOINT: `https://${S3_HOST}:${s3Front.port}`,
      MODEL_SYNC_SOURCE_AWS_CA_BUNDLE: ca.certPath,
      MODEL_SYNC_DESTINATION_OCI_URI: `${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.0`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${REGISTRY_HOST}:${registryPort}/library/busybox:latest`,
      MODEL_SYNC_DESTINATION_OCI_USERNAME: REGISTRY_USER,
      MODEL_SYNC_DESTINATION_OCI_PASSWORD: REGISTRY_PASSWORD,
      MODEL_SYNC_DESTINATION_OCI_CERT_DIR: certsDir,
      MODEL_SYNC_REGISTRY_SERVER_ADDRESS: `https://${MR_HOST}:${mrFront.port}`,
      MODEL_SYNC_REGISTRY_IS_SECURE: 'true',
      MODEL_SYNC_REGISTRY_USER_TOKEN: 'test-token',
      MODEL_SYNC_REGISTRY_CUSTOM_CA: ca.certPath,
    };
  }

  it('over TLS, verification on: each service trusted by its own setting, each host through squid (CONNECT)', async () => {
    const registryPort = tlsRegistry.host.split(':')[1]!;
    const { log, uri } = await runAll('sentiment-tls', tlsEnv()); // the streaming all
    assert.equal(uri, `oci://${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.0`);
    assert.match(log, new RegExp(`CONNECT ${S3_HOST}:${s3Front.port}`), 'S3 over TLS through squid');
    assert.match(log, new RegExp(`CONNECT ${REGISTRY_HOST}:${registryPort}`), 'the registry over TLS through squid');
    assert.match(log, new RegExp(`CONNECT ${TOKEN_HOST}:${new URL(tlsRegistry.tokenService!.realm).port}`), 'the token realm (its own certs.d folder) through squid');
    assert.match(log, new RegExp(`CONNECT ${MR_HOST}:${mrFront.port}`), 'Model Registry over TLS through squid');
    assert.ok(tlsRegistry.tokenService!.requests.some((r) => r.user === REGISTRY_USER && r.outcome === 'issued'), 'tokens were issued');
    assert.doesNotMatch(log, /TCP_DENIED/);
  });

  it('the token realm needs its own certs.d folder: without it, exit 2 naming that folder', async () => {
    const registryPort = tlsRegistry.host.split(':')[1]!;
    const realmPort = new URL(tlsRegistry.tokenService!.realm).port;
    const registryOnly = path.join(work, 'certs.d-registry-only');
    mkdirSync(path.join(registryOnly, `${REGISTRY_HOST}:${registryPort}`), { recursive: true });
    copyFileSync(ca.certPath, path.join(registryOnly, `${REGISTRY_HOST}:${registryPort}`, 'ca.crt'));
    // A packaged workspace, for push alone.
    await runAll('sentiment-tls-staged', { ...tlsEnv(), MODEL_SYNC_STREAM: 'false' });
    const r = await runCli(['push'], {
      MODEL_SYNC_STORAGE_PATH: path.join(work, 'ws-sentiment-tls-staged'),
      MODEL_SYNC_DESTINATION_TYPE: 'oci',
      MODEL_SYNC_DESTINATION_OCI_URI: `${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.1`,
      MODEL_SYNC_DESTINATION_OCI_USERNAME: REGISTRY_USER,
      MODEL_SYNC_DESTINATION_OCI_PASSWORD: REGISTRY_PASSWORD,
      MODEL_SYNC_DESTINATION_OCI_CERT_DIR: registryOnly,
      ...NO_CA_ENV,
      ...throughSquid(squid.url),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.termination, new RegExp(`${TOKEN_HOST}:${realmPort} presented a certificate no trusted CA signed .*: add its CA with --destination-oci-cert-dir / MODEL_SYNC_DESTINATION_OCI_CERT_DIR \\(${registryOnly.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${TOKEN_HOST}:${realmPort}/ca\\.crt\\)`), r.termination);
  });

  it('over plain HTTP: S3 and Model Registry on http, the registry on http with verification off, each through squid', async () => {
    const registryPort = plainRegistry.host.split(':')[1]!;
    const { log, uri } = await runAll('sentiment-plain', {
      MODEL_SYNC_SOURCE_AWS_ENDPOINT: `http://${S3_HOST}:${port(s3.endpoint)}`,
      MODEL_SYNC_DESTINATION_OCI_URI: `${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.0`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${REGISTRY_HOST}:${registryPort}/library/busybox:latest`,
      MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
      MODEL_SYNC_REGISTRY_SERVER_ADDRESS: `http://${MR_HOST}:${port(standin.url)}`,
      MODEL_SYNC_REGISTRY_IS_SECURE: 'false',
    });
    assert.equal(uri, `oci://${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.0`);
    assert.match(log, new RegExp(`GET http://${S3_HOST}:${port(s3.endpoint)}/models`), 'S3 over http through squid');
    assert.match(log, new RegExp(`(GET|HEAD|PUT|POST) http://${REGISTRY_HOST}:${registryPort}/v2/`), 'the registry over http through squid');
    assert.match(log, new RegExp(`POST http://${MR_HOST}:${port(standin.url)}/api/model_registry/`), 'Model Registry over http through squid');
    assert.doesNotMatch(log, /TCP_DENIED/);
  });
});
