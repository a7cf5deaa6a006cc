// Proxies end to end: `model-sync all` through a real squid to host names that only squid
// resolves (its own hosts_file), so a step that went direct could not have found its server.
// S3 (s3rver) and the Model Registry stand-in over plain http (HTTP_PROXY: absolute-URL requests),
// the OCI registry and its token realm (another host name) over TLS (HTTPS_PROXY: CONNECT tunnels). Without the proxy, and with NO_PROXY
// naming a host, the same names do not resolve.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { runCli, tempDir } from '../dev/cli.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startRegistry, type TestRegistry } from '../dev/registry.js';
import { startS3Server, S3RVER_KEY, S3RVER_SECRET, type S3Server } from '../dev/s3-server.js';
import { EXIT } from '../src/errors.js';
import { ModelRegistryClient } from '../src/model-registry/client.js';
import { metadataFolder, registryEnv, SAMPLE_CREATE_MODEL } from './support/model-registry.js';
import { serveHfRepo, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { proxyEnv, startSquid, type Squid } from './support/squid.js';
import { missingTools } from './support/requirements.js';

const run = promisify(execFile);
const DOMAIN = 'model-sync.test';
const S3_HOST = `s3.${DOMAIN}`;
const REGISTRY_HOST = `registry.${DOMAIN}`;
const MR_HOST = `mr.${DOMAIN}`;
const TOKEN_HOST = `token.${DOMAIN}`;
const HUB_HOST = `hf.${DOMAIN}`;
const CDN_HOST = `cdn.${DOMAIN}`;

const skip = missingTools('squid', 'registry', 'skopeo', 'busybox');


describe('proxies: all through squid to names only squid resolves', { skip }, () => {
  let squid: Squid;
  let s3: S3Server;
  let registry: TestRegistry;
  let standin: Standin;
  let hub: TestHttpServer;
  let cdn: TestHttpServer;
  let client: ModelRegistryClient;
  let s3Port: string;
  let registryPort: string;
  let mrPort: string;
  const dirs: string[] = [];

  before(async () => {
    [s3, registry, standin] = await Promise.all([startS3Server('models', { serviceEndpoint: DOMAIN }), startRegistry({ mode: 'token', tls: true, realm: (realm) => realm.replace('127.0.0.2', TOKEN_HOST) }), startStandin()]);
    s3Port = new URL(s3.endpoint).port;
    registryPort = registry.host.split(':')[1]!;
    mrPort = new URL(standin.url).port;
    const registryIp = registry.host.split(':')[0]!;
    squid = await startSquid({ [S3_HOST]: '127.0.0.1', [MR_HOST]: '127.0.0.1', [REGISTRY_HOST]: registryIp, [TOKEN_HOST]: registryIp, [HUB_HOST]: '127.0.0.1', [CDN_HOST]: '127.0.0.1' });
    [hub, cdn] = await Promise.all([startHttpServer(), startHttpServer()]);
    // The Hub redirects downloads to its CDN, another name: each is decided (and proxied) on its own.
    const cdnByName = { ...cdn, url: cdn.url.replace('127.0.0.1', CDN_HOST) };
    serveHfRepo(hub, 'acme/tiny', 'main', [{ path: 'config.json', body: Buffer.from('{}') }, { path: 'model.safetensors', body: Buffer.alloc(4096, 1), lfs: true }], { cdn: cdnByName });
    client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false });
    await s3.put('sentiment/v1/model.onnx', Buffer.alloc(256 * 1024, 3));
    await s3.put('sentiment/v1/config.json', Buffer.from('{"arch":"tiny"}'));
    const baseDir = await tempDir('ms-base-');
    dirs.push(baseDir);
    await buildBusyboxBase(path.join(baseDir, 'layout'));
    // The base goes in with skopeo at the registry's address (loopback: direct, Go's rule), its
    // token realm through squid; model-sync reads the base back by name, through squid.
    const skopeoEnv = { ...process.env, ...proxyEnv({ https: squid.url }) };
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${REGISTRY_USER}:${REGISTRY_PASSWORD}`, `oci:${path.join(baseDir, 'layout')}:latest`, `docker://${registry.host}/library/busybox:latest`], { env: skopeoEnv });
  });
  after(async () => {
    client?.close();
    await Promise.all([squid?.stop(), s3?.stop(), registry?.stop(), standin?.stop(), hub?.stop(), cdn?.stop()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  function env(workspace: string, extra: Record<string, string>): Record<string, string | undefined> {
    return registryEnv(standin, {
      MODEL_SYNC_REGISTRY_SERVER_ADDRESS: `http://${MR_HOST}:${mrPort}`,
      MODEL_SYNC_STORAGE_PATH: workspace,
      MODEL_SYNC_SOURCE_TYPE: 's3',
      MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_SOURCE_AWS_KEY: 'sentiment/v1',
      MODEL_SYNC_SOURCE_AWS_ENDPOINT: `http://${S3_HOST}:${s3Port}`,
      MODEL_SYNC_SOURCE_AWS_REGION: 'us-east-1',
      MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY,
      MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
      MODEL_SYNC_DESTINATION_TYPE: 'oci',
      MODEL_SYNC_DESTINATION_OCI_URI: `${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.0`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${REGISTRY_HOST}:${registryPort}/library/busybox:latest`,
      // The registry's certificate names 127.0.0.2, not the test name: TLS without verification.
      MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
      MODEL_SYNC_DESTINATION_OCI_USERNAME: REGISTRY_USER,
      MODEL_SYNC_DESTINATION_OCI_PASSWORD: REGISTRY_PASSWORD,
      MODEL_SYNC_RETRY_ATTEMPTS: '1',
      ...extra,
    });
  }

  it('all: S3 and Model Registry over http, the registry and its token realm over https (CONNECT), each in squid log', async () => {
    const ws = await tempDir('ms-proxy-');
    const metadata = await metadataFolder(SAMPLE_CREATE_MODEL, { volume: true });
    dirs.push(ws, metadata);
    const logBefore = (await squid.accessLog()).length;
    const result = await runCli(['all'], env(ws, { MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model', MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata, ...proxyEnv({ http: squid.url, https: squid.url, noProxy: 'minio.minio.svc.cluster.local,*.svc.cluster.local,10.0.0.0/8' }) }), { timeoutMs: 90_000 });
    assert.equal(result.code, 0, result.stderr);

    const model = (await client.findRegisteredModel('sentiment'))!;
    const version = (await client.findModelVersion('1.0.0', model.id))!;
    const [artifact] = await client.listModelVersionArtifacts(version.id);
    assert.equal(artifact!.uri, `oci://${REGISTRY_HOST}:${registryPort}/models/sentiment:1.0.0`);
    assert.equal(artifact!.state, 'LIVE');
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', '--creds', `${REGISTRY_USER}:${REGISTRY_PASSWORD}`, `docker://${registry.host}/models/sentiment:1.0.0`], { env: { ...process.env, ...proxyEnv({ https: squid.url }) } });
    assert.ok((JSON.parse(stdout) as { manifests?: unknown[] }).manifests?.length, 'the modelcar is in the registry');

    const log = (await squid.accessLog()).slice(logBefore);
    assert.match(log, new RegExp(`GET http://${S3_HOST}:${s3Port}/models`), 'S3 listing and downloads went through squid');
    assert.match(log, new RegExp(`CONNECT ${REGISTRY_HOST}:${registryPort}`), 'the registry (base pull and push) through a tunnel');
    const realm = new URL(registry.tokenService!.realm);
    assert.match(log, new RegExp(`CONNECT ${TOKEN_HOST}:${realm.port}`), 'the token realm, another host, through a tunnel too');
    assert.ok(registry.tokenService!.requests.some((r) => r.user === REGISTRY_USER && r.outcome === 'issued'), 'tokens were issued');
    assert.match(log, new RegExp(`POST http://${MR_HOST}:${mrPort}/api/model_registry/`), 'Model Registry writes through squid');
    assert.doesNotMatch(log, /TCP_DENIED/);

    const proxyLine = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'proxy');
    assert.equal(proxyLine.length, 1, 'one proxy line per run');
    assert.deepEqual(proxyLine[0]!.noProxy, ['minio.minio.svc.cluster.local', '*.svc.cluster.local', '10.0.0.0/8']);
  });

  it('without a proxy (HTTPS_PROXY="" as in upstream sample Job) the names do not resolve', async () => {
    const ws = await tempDir('ms-proxy-');
    dirs.push(ws);
    const result = await runCli(['fetch'], env(ws, proxyEnv({ https: '', noProxy: 'minio.minio.svc.cluster.local,*.svc.cluster.local' })), { timeoutMs: 60_000 });
    assert.notEqual(result.code, 0);
    assert.match(result.termination, new RegExp(`ENOTFOUND|EAI_AGAIN|${S3_HOST.replace(/\./g, '\\.')}`), result.termination);
  });

  it('NO_PROXY naming the S3 host sends it direct, where it does not resolve', async () => {
    const ws = await tempDir('ms-proxy-');
    dirs.push(ws);
    const before = (await squid.accessLog()).split(`${S3_HOST}:${s3Port}`).length;
    const result = await runCli(['fetch'], env(ws, proxyEnv({ http: squid.url, https: squid.url, noProxy: S3_HOST })), { timeoutMs: 60_000 });
    assert.notEqual(result.code, 0);
    assert.match(result.termination, new RegExp(`ENOTFOUND|EAI_AGAIN|${S3_HOST.replace(/\./g, '\\.')}`), result.termination);
    assert.equal((await squid.accessLog()).split(`${S3_HOST}:${s3Port}`).length, before, 'squid saw no S3 request');
    // The same run through squid (NO_PROXY naming another host) fetches the model.
    const ok = await runCli(['fetch'], env(ws, proxyEnv({ http: squid.url, https: squid.url, noProxy: `other.${DOMAIN}` })), { timeoutMs: 60_000 });
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('hf://: the Hub API and its CDN redirect go through squid', async () => {
    const ws = await tempDir('ms-proxy-');
    dirs.push(ws);
    const logBefore = (await squid.accessLog()).length;
    const hubUrl = hub.url.replace('127.0.0.1', HUB_HOST);
    const result = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: 'hf://acme/tiny', HF_ENDPOINT: hubUrl, MODEL_SYNC_RETRY_ATTEMPTS: '1', ...proxyEnv({ http: squid.url }) }, { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    const log = (await squid.accessLog()).slice(logBefore);
    assert.match(log, new RegExp(`GET ${hubUrl}/api/models/acme/tiny/revision/main`));
    assert.match(log, new RegExp(`GET http://${CDN_HOST}:${new URL(cdn.url).port}/cdn/`));
  });

  it('a proxy with Basic auth: user:password in the URL is sent to squid, never logged; a wrong one is refused', async () => {
    const user = 'proxyuser';
    const password = 'sq-Pr0xy-pass';
    const authed = await startSquid({ [HUB_HOST]: '127.0.0.1', [CDN_HOST]: '127.0.0.1', [S3_HOST]: '127.0.0.1' }, { auth: { user, password } });
    try {
      const hubUrl = hub.url.replace('127.0.0.1', HUB_HOST);
      const withCredentials = (pw: string) => authed.url.replace('http://', `http://${user}:${encodeURIComponent(pw)}@`);
      const fetchVia = async (proxyUrl: string) => {
        const ws = await tempDir('ms-proxy-');
        dirs.push(ws);
        return runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: 'hf://acme/tiny', HF_ENDPOINT: hubUrl, MODEL_SYNC_RETRY_ATTEMPTS: '1', MODEL_SYNC_LOG_LEVEL: 'debug', ...proxyEnv({ http: proxyUrl }) }, { timeoutMs: 60_000 });
      };
      const ok = await fetchVia(withCredentials(password));
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(await authed.accessLog(), new RegExp(`GET ${hubUrl}/api/models/acme/tiny/revision/main\\?? ${user} HIER_DIRECT`), 'squid names the authenticated user');
      for (const out of [ok.stderr, ok.stdout, ok.termination]) {
        assert.equal(out.includes(password), false, 'the password never appears');
        assert.equal(out.includes(Buffer.from(`${user}:${password}`).toString('base64')), false, 'nor its Basic form');
      }
      const refused = await fetchVia(withCredentials('wrong-password'));
      assert.equal(refused.code, EXIT.auth, refused.stderr);
      assert.match(refused.termination, /hf\.model-sync\.test.*the proxy refused the request \(407 Proxy Authentication Required\).*HTTPS_PROXY \/ HTTP_PROXY/, refused.termination);
      assert.equal(refused.stderr.includes('wrong-password'), false);
      // The S3 SDK's requests meet the same answer, and the same message.
      const ws = await tempDir('ms-proxy-');
      dirs.push(ws);
      const s3Refused = await runCli(['fetch'], env(ws, proxyEnv({ http: withCredentials('wrong-password') })), { timeoutMs: 60_000 });
      assert.equal(s3Refused.code, EXIT.auth, s3Refused.stderr);
      assert.match(s3Refused.termination, /s3:\/\/models\/sentiment\/v1.*407 Proxy Authentication Required/, s3Refused.termination);
    } finally {
      await authed.stop();
    }
  });
});
