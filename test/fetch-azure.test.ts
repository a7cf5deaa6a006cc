// fetch from Azure Blob Storage against Azurite (Microsoft's emulator from npm), started by this
// file: a prefix with nested files under the shared key and under a SAS URL, a wrong key (exit 4,
// naming the setting, no secret in the output), a missing prefix or container (exit 5), a large
// blob in ranged parts and a cut download resumed (through a fault proxy that counts x-ms-range),
// a service principal's token request going to AZURE_AUTHORITY_HOST (a local TLS stub), and
// `all` Azure -> modelcar -> docker-registry, registered through the Model Registry stand-in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { ContainerSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { REPO_ROOT, runCli, runCliSignalled, tempDir } from '../dev/cli.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { freePort } from '../dev/ports.js';
import { startRegistry, type TestRegistry } from '../dev/registry.js';
import { ModelRegistryClient } from '../src/model-registry/client.js';
import { parseAzureBlobUri } from '../src/sources/azure-uri.js';
import { uriKind } from '../src/sources/uri.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { logLines, readInventory, readTree, sha256 } from './support/fetch-helpers.js';
import { metadataFolder, registryEnv, SAMPLE_CREATE_MODEL } from './support/model-registry.js';
import { missingTools } from './support/requirements.js';
import { createTestCa } from './support/test-ca.js';
import { startTlsFront } from './support/tls-front.js';

const run = promisify(execFile);
// Azurite's well-known development account (documented by Microsoft, not a secret of anyone's).
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CONTAINER = 'models';
const URI_SETTING = '--source-uri / MODEL_SYNC_SOURCE_URI';
const MODEL: Record<string, Buffer> = {
  'config.json': Buffer.from('{"arch":"tiny"}'),
  'model.onnx': randomBytes(3 * 1024 * 1024 + 17),
  'tokenizer/vocab.txt': Buffer.from('a\nb\nc\n'),
  'tokenizer/deep/merges.txt': Buffer.from('x y\n'),
};
const BIG = 'big/model.safetensors';
const BIG_SIZE = 24 * 1024 * 1024;
const RANGED = { MODEL_SYNC_S3_PART_SIZE: String(1024 * 1024), MODEL_SYNC_S3_RANGED_THRESHOLD: String(1024 * 1024), MODEL_SYNC_FETCH_CONCURRENCY: '2' };

let azurite: ChildProcess;
let endpoint: string; // http://127.0.0.1:<port>/devstoreaccount1
let service: BlobServiceClient;
let proxy: FaultProxy;
const temps: string[] = [];

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Azurite did not listen on ${port}`);
}

before(async () => {
  const port = await freePort();
  const location = await tempDir('ms-azurite-');
  temps.push(location);
  azurite = spawn(path.join(REPO_ROOT, 'node_modules/.bin/azurite-blob'), ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location, '--silent', '--skipApiVersionCheck', '--loose'], { stdio: 'ignore' });
  await waitForPort(port);
  endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY));
  const container = service.getContainerClient(CONTAINER);
  await container.create();
  for (const [name, body] of Object.entries(MODEL)) await container.getBlockBlobClient(`sentiment/v1/${name}`).uploadData(body);
  await container.getBlockBlobClient('sentiment/v1-other/stray.bin').uploadData(Buffer.from('not part of v1'));
  proxy = await startFaultProxy(`http://127.0.0.1:${port}`);
});

after(async () => {
  await proxy?.stop();
  azurite?.kill('SIGTERM');
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function workspace(): Promise<string> {
  const dir = await tempDir('ms-fetch-azure-');
  temps.push(dir);
  return path.join(dir, 'ws');
}

/** `fetch` of `prefix` in the container through `base` (Azurite, or the fault proxy in front of it). */
function env(ws: string, prefix: string, extra: Record<string, string | undefined> = {}, base = endpoint): Record<string, string | undefined> {
  return {
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_SOURCE_TYPE: 'uri',
    MODEL_SYNC_SOURCE_URI: `${base}/${CONTAINER}/${prefix}`,
    AZURE_STORAGE_BLOB_ENDPOINT: base,
    AZURE_STORAGE_ACCESS_KEY: ACCOUNT_KEY,
    ...extra,
  };
}

test('URIs: split as KServe splits them; path-style only below AZURE_STORAGE_BLOB_ENDPOINT; other https stays a web file', () => {
  const loc = parseAzureBlobUri('https://myacct.blob.core.windows.net/models/sentiment/v1/?sv=1&sig=abc', {}, URI_SETTING);
  assert.deepEqual(
    { account: loc.account, serviceUrl: loc.serviceUrl, container: loc.container, prefix: loc.prefix, sas: loc.sas, display: loc.display },
    { account: 'myacct', serviceUrl: 'https://myacct.blob.core.windows.net', container: 'models', prefix: 'sentiment/v1', sas: 'sv=1&sig=abc', display: 'https://myacct.blob.core.windows.net/models/sentiment/v1/?[query hidden]' },
  );
  const base = { setting: URI_SETTING, pvcMountRoot: '/mnt/pvc', hf: { endpoint: 'https://huggingface.co' } };
  assert.equal(uriKind({ ...base, uri: 'https://myacct.blob.core.windows.net/models/x' }), 'azure');
  assert.equal(uriKind({ ...base, uri: 'https://example.com/models/x.tar' }), 'web');
  assert.equal(uriKind({ ...base, uri: 'http://127.0.0.1:10000/devstoreaccount1/models/x' }), 'web', 'no endpoint set: a web file');
  assert.equal(uriKind({ ...base, uri: 'http://127.0.0.1:10000/devstoreaccount1/models/x', azure: { blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1' } }), 'azure');
  const pathStyle = parseAzureBlobUri('http://127.0.0.1:10000/devstoreaccount1/models/a/b', { blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1/' }, URI_SETTING);
  assert.deepEqual([pathStyle.account, pathStyle.serviceUrl, pathStyle.container, pathStyle.prefix], ['devstoreaccount1', 'http://127.0.0.1:10000/devstoreaccount1', 'models', 'a/b']);
});

test('shared key: a prefix with nested files is fetched byte-identical with its inventory, and a sibling prefix is left out', async () => {
  const ws = await workspace();
  const r = await runCli(['fetch'], env(ws, 'sentiment/v1'));
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), Object.keys(MODEL).sort(), 'exactly the blobs under sentiment/v1/');
  for (const [name, body] of Object.entries(MODEL)) assert.ok(tree.get(name)?.equals(body), `${name} is byte-identical`);
  const inv = await readInventory(ws);
  assert.deepEqual(
    inv.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })).sort((a, b) => a.path.localeCompare(b.path)),
    Object.entries(MODEL).map(([p, b]) => ({ path: p, size: b.length, sha256: sha256(b) })).sort((a, b) => a.path.localeCompare(b.path)),
  );
  assert.ok(logLines(r.stderr).some((l) => l.msg === 'listing Azure Blob source' && l.credential === 'shared-key'), 'the shared key is the credential');
  assert.ok(!r.stderr.includes(ACCOUNT_KEY), 'the key is never logged');
});

test('--source-exclude: excluded blobs are never downloaded, and the inventory counts them', async () => {
  const ws = await workspace();
  const r = await runCli(['fetch'], env(ws, 'sentiment/v1', { MODEL_SYNC_SOURCE_EXCLUDE: 'tokenizer/*' }));
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), ['config.json', 'model.onnx'], 'fnmatch: tokenizer/* crosses into tokenizer/deep/');
  const inv = (await readInventory(ws)) as { filtered?: { skipped: number } };
  assert.equal(inv.filtered?.skipped, 2);
});

test('a SAS URL: fetched without an account key, and the signature is in no output', async () => {
  const sas = generateBlobSASQueryParameters(
    { containerName: CONTAINER, permissions: ContainerSASPermissions.parse('rl'), expiresOn: new Date(Date.now() + 3600_000) },
    new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY),
  );
  const sig = sas.signature;
  const ws = await workspace();
  const e = env(ws, 'sentiment/v1', { AZURE_STORAGE_ACCESS_KEY: undefined });
  e.MODEL_SYNC_SOURCE_URI = `${e.MODEL_SYNC_SOURCE_URI}?${sas.toString()}`;
  const r = await runCli(['fetch'], e);
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.ok(tree.get('model.onnx')?.equals(MODEL['model.onnx']!), 'model.onnx is byte-identical');
  assert.ok(logLines(r.stderr).some((l) => l.credential === 'sas'), 'the SAS token is the credential');
  for (const out of [r.stderr, r.stdout, r.termination, await readFile(path.join(ws, '.model-sync', 'fetch.json'), 'utf8').catch(() => '')]) {
    assert.ok(!out.includes(sig) && !out.includes(encodeURIComponent(sig)), 'the SAS signature is in no output or record');
  }
});

test('a wrong key: exit 4 (auth), one line naming the URI setting and AZURE_STORAGE_ACCESS_KEY, no secret', async () => {
  const ws = await workspace();
  const wrong = Buffer.from('not-the-key-of-this-account-at-all').toString('base64');
  const r = await runCli(['fetch'], env(ws, 'sentiment/v1', { AZURE_STORAGE_ACCESS_KEY: wrong }));
  assert.equal(r.code, 4, r.stderr);
  const message = r.termination.trim();
  assert.ok(message.includes(URI_SETTING), `names the URI setting: ${message}`);
  assert.ok(message.includes('AZURE_STORAGE_ACCESS_KEY'), `names the key's variable: ${message}`);
  assert.ok(!message.includes('\n'), 'one line');
  assert.ok(!r.stderr.includes(wrong) && !r.termination.includes(wrong), 'the key is never printed');
});

test('a missing prefix and a missing container: exit 5 (not found), naming the URI setting or the blob', async () => {
  const ws = await workspace();
  const r = await runCli(['fetch'], env(ws, 'sentiment/v9'));
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.termination, /no blob with this name and no blobs under .*\/models\/sentiment\/v9\//);
  const e = env(await workspace(), 'x');
  e.MODEL_SYNC_SOURCE_URI = `${endpoint}/no-such-container/x`;
  const c = await runCli(['fetch'], e);
  assert.equal(c.code, 5, c.stderr);
  assert.match(c.termination, /--source-uri \/ MODEL_SYNC_SOURCE_URI: listing .*no-such-container.*: no such container/);
});

const partialDir = (ws: string) => path.join(ws, '.model-sync', 'tmp', 'fetch-partial');

async function recordedBytes(ws: string): Promise<number> {
  const names = await readdir(partialDir(ws)).catch(() => [] as string[]);
  const record = names.find((n) => n.endsWith('.json'));
  if (!record) return 0;
  try {
    return ((JSON.parse(await readFile(path.join(partialDir(ws), record), 'utf8')) as { done?: number[] }).done ?? []).reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

/** GETs of the big blob since the last reset, and the bytes they asked (x-ms-range; none asks for all). */
function bigReads(): { gets: number; ranged: number; asked: number } {
  let gets = 0;
  let ranged = 0;
  let asked = 0;
  for (const r of proxy.requests) {
    if (r.method !== 'GET' || !r.path.endsWith(BIG)) continue;
    gets++;
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(r.headers['x-ms-range'] ?? r.headers.range ?? ''));
    if (m) ranged++;
    asked += m ? Number(m[2]) - Number(m[1]) + 1 : BIG_SIZE;
  }
  return { gets, ranged, asked };
}

describe('a large blob', () => {
  const body = randomBytes(BIG_SIZE);
  before(async () => {
    await service.getContainerClient(CONTAINER).getBlockBlobClient(BIG).uploadData(body);
  });

  test('is fetched in ranged parts, byte-identical', async () => {
    proxy.requests.length = 0;
    const ws = await workspace();
    const r = await runCli(['fetch'], env(ws, 'big', RANGED, `${proxy.url}/${ACCOUNT}`));
    assert.equal(r.code, 0, r.stderr);
    const reads = bigReads();
    assert.equal(reads.ranged, BIG_SIZE / (1024 * 1024), `one ranged read per 1 MiB part (${JSON.stringify(reads)})`);
    const file = await readFile(path.join(ws, 'model', 'model.safetensors'));
    assert.ok(file.equals(body), 'byte-identical');
    assert.equal((await readInventory(ws)).files[0]?.sha256, sha256(body));
  });

  test('a download killed with SIGKILL mid-blob resumes: the re-run asks at most 60% of the bytes', async () => {
    const ws = await workspace();
    proxy.requests.length = 0;
    proxy.rules.push({ method: 'GET', path: `/${ACCOUNT}/${CONTAINER}/${BIG}`, delayMs: 120, times: 10_000 });
    const e = env(ws, 'big', RANGED, `${proxy.url}/${ACCOUNT}`);
    const k = await runCliSignalled(['fetch'], e, { when: async () => (await recordedBytes(ws)) >= BIG_SIZE / 2, signal: 'SIGKILL' });
    assert.equal(k.killedBy, 'SIGKILL', `the fetch ended before the kill: ${k.stderr}`);
    proxy.rules.length = 0;
    proxy.requests.length = 0;
    const r = await runCli(['fetch'], e);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(logLines(r.stderr).some((l) => l.msg === 'resuming a partial download'), 'the re-run resumes');
    const { asked } = bigReads();
    assert.ok(asked > 0 && asked <= 0.6 * BIG_SIZE, `the re-run asked ${asked} of ${BIG_SIZE} bytes`);
    const file = await readFile(path.join(ws, 'model', 'model.safetensors'));
    assert.ok(file.equals(body), 'the resumed file is byte-identical');
    assert.equal((await readInventory(ws)).files[0]?.sha256, sha256(body));
  });
});

test('a service principal (AZ_* spellings) is chosen over the key: its token request goes to AZURE_AUTHORITY_HOST, a refusal is exit 4 naming the settings, no secret', async (t) => {
  const ca = createTestCa();
  const cert = ca.issue(['127.0.0.1']);
  const seen: string[] = [];
  const stub = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' }));
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  const port = (stub.address() as net.AddressInfo).port;
  const secret = 'sp-secret-value-never-printed';
  // A bearer token is only sent over TLS: Azurite behind a TLS front of the same test CA.
  const front = await startTlsFront({ host: '127.0.0.1', port: Number(new URL(endpoint).port) }, cert);
  try {
    const ws = await workspace();
    const r = await runCli(['fetch'], env(ws, 'sentiment/v1', {
      AZ_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
      AZ_TENANT_ID: '00000000-0000-0000-0000-000000000002',
      AZ_CLIENT_SECRET: secret,
      AZURE_AUTHORITY_HOST: `https://127.0.0.1:${port}`,
      NODE_EXTRA_CA_CERTS: ca.certPath,
      SSL_CERT_FILE: ca.certPath,
    }, `https://127.0.0.1:${front.port}/${ACCOUNT}`), { timeoutMs: 60_000 });
    assert.ok(logLines(r.stderr).some((l) => l.credential === 'service-principal'), `the service principal is the credential: ${r.stderr}`);
    assert.ok(seen.some((s) => s.includes('00000000-0000-0000-0000-000000000002')), `a request for the tenant reached the authority stub: ${seen.join(" | ")} ${r.termination}`);
    t.diagnostic(`authority stub saw: ${seen.join(' | ')}; message: ${r.termination.trim()}`);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.termination, /AZURE_CLIENT_ID/);
    assert.ok(!r.stderr.includes(secret) && !r.termination.includes(secret), 'the client secret is never printed');
  } finally {
    stub.close();
    await front.stop();
    ca.remove();
  }
});

const skipAll = missingTools('registry', 'skopeo', 'busybox');

describe('all: Azure (Azurite) -> modelcar -> docker-registry -> Model Registry stand-in', { skip: skipAll }, () => {
  let registry: TestRegistry;
  let standin: Standin;
  let client: ModelRegistryClient;
  before(async () => {
    [registry, standin] = await Promise.all([startRegistry({ mode: 'plain' }), startStandin()]);
    client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false });
    const baseDir = await tempDir('ms-base-');
    temps.push(baseDir);
    await buildBusyboxBase(path.join(baseDir, 'layout'));
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${path.join(baseDir, 'layout')}:latest`, `docker://${registry.host}/library/busybox:latest`]);
  });
  after(async () => {
    client?.close();
    await Promise.all([registry?.stop(), standin?.stop()]);
  });

  test('create_model: the blobs become a modelcar, registered LIVE with its oci:// URI', async () => {
    const ws = await workspace();
    const metadata = await metadataFolder(SAMPLE_CREATE_MODEL, { volume: true });
    temps.push(metadata);
    const r = await runCli(['all'], registryEnv(standin, {
      ...env(ws, 'sentiment/v1'),
      MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
      MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
      MODEL_SYNC_DESTINATION_TYPE: 'oci',
      MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/sentiment:1.0.0`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${registry.host}/library/busybox:latest`,
      MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
    }), { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const model = (await client.findRegisteredModel('sentiment'))!;
    const version = (await client.findModelVersion('1.0.0', model.id))!;
    const [artifact] = await client.listModelVersionArtifacts(version.id);
    assert.equal(artifact!.uri, `oci://${registry.host}/models/sentiment:1.0.0`);
    assert.equal(artifact!.state, 'LIVE');
    const results = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(results['model-files'], String(Object.keys(MODEL).length));
    assert.equal(Number(results['model-bytes']), Object.values(MODEL).reduce((n, b) => n + b.length, 0));
    assert.ok(logLines(r.stderr).some((l) => String(l.reason ?? l.msg).includes('Azure Blob source is not streamed yet')), 'all says why it staged');
    // The pushed modelcar holds the blobs under /models: fetch it back and compare.
    const back = await workspace();
    const f = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: back, MODEL_SYNC_SOURCE_TYPE: 'oci', MODEL_SYNC_SOURCE_OCI_URI: `${registry.host}/models/sentiment:1.0.0`, MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'false' });
    assert.equal(f.code, 0, f.stderr);
    const tree = await readTree(path.join(back, 'model'));
    for (const [name, body] of Object.entries(MODEL)) assert.ok(tree.get(name)?.equals(body), `${name} comes back byte-identical from the registry`);
  });
});

