// Private CAs per service, through the CLI: an OCI registry (docker-registry with a certificate
// the test CA signed), S3 (s3rver), a web server, a Hugging Face Hub stand-in and the Model
// Registry stand-in (each behind a TLS front with such a certificate). For each: without the CA the
// step stops at once (exit 2, not retried) with one line naming the host and the setting that adds
// its CA; with the setting it works; SSL_CERT_FILE alone and NODE_EXTRA_CA_CERTS alone work too
// (NODE_EXTRA_CA_CERTS also while a custom `ca` is in use, which replaces Node's store).
// These machines set SSL_CERT_FILE, NODE_EXTRA_CA_CERTS and AWS_CA_BUNDLE: every run sets all three.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { runCli, tempDir, type CliResult } from '../dev/cli.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { startRegistry, type TestRegistry } from '../dev/registry.js';
import { startS3Server, S3RVER_KEY, S3RVER_SECRET, type S3Server } from '../dev/s3-server.js';
import { resolveConfig } from '../src/config/config.js';
import { StepSettings } from '../src/config/settings.js';
import { loadStep } from '../src/contract/contract.js';
import { EXIT } from '../src/errors.js';
import { certificateFailure } from '../src/net/tls-errors.js';
import { tlsOptionsFor } from '../src/net/tls-trust.js';
import { metadataFolder, SAMPLE_CREATE_MODEL } from './support/model-registry.js';
import { serveHfRepo, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { createTestCa, type TestCa } from './support/test-ca.js';
import { startTlsFront, type TlsFront } from './support/tls-front.js';
import { missingTools } from './support/requirements.js';

const run = promisify(execFile);
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** The machine's CA variables, emptied: each case sets what it tests. */
const NO_CA_ENV = { SSL_CERT_FILE: '', NODE_EXTRA_CA_CERTS: '', AWS_CA_BUNDLE: '' };
const UNKNOWN_ISSUER = '\\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\\)';

const skip = missingTools('registry', 'skopeo', 'busybox');

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A refusal as wanted: exit 2, one line naming host and setting, no retry (one refused handshake at the front, when given). */
function assertRefused(r: CliResult, host: string, advice: RegExp, handshakes?: { front: TlsFront; before: number }): void {
  if (handshakes) assert.equal(handshakes.front.refused - handshakes.before, 1, 'one attempt: a refused certificate is not retried');
  assert.equal(r.code, EXIT.config, r.stderr);
  const line = r.termination.trim();
  assert.ok(!line.includes('\n'), `one line: ${line}`);
  assert.match(line, new RegExp(`${escape(host)} presented a certificate no trusted CA signed ${UNKNOWN_ISSUER}: add its CA with `), line);
  assert.match(line, advice, line);
  assert.doesNotMatch(r.stderr, /retrying/, 'a refused certificate is not retried');
}

describe('private CAs per service', { skip }, () => {
  let ca: TestCa;
  let registry: TestRegistry;
  let s3: S3Server;
  let web: TestHttpServer;
  let hub: TestHttpServer;
  let standin: Standin;
  const fronts: TlsFront[] = [];
  let work: string;
  let certsDir: string;
  let caOnly: string;
  const s3Url = () => `https://127.0.0.1:${fronts[0]!.port}`;
  const webUrl = () => `https://127.0.0.1:${fronts[1]!.port}`;
  const hubUrl = () => `https://127.0.0.1:${fronts[2]!.port}`;
  const mrUrl = () => `https://127.0.0.1:${fronts[3]!.port}`;
  const model = Buffer.alloc(64 * 1024, 7);

  before(async () => {
    ca = createTestCa();
    const loopback = ca.issue(['127.0.0.1', 'localhost']);
    const registryCert = ca.issue(['127.0.0.2']);
    [registry, s3, web, hub, standin] = await Promise.all([
      startRegistry({ mode: 'plain', tls: { keyPath: registryCert.keyPath, certPath: registryCert.certPath } }),
      startS3Server('models'),
      startHttpServer(),
      startHttpServer(),
      startStandin(),
    ]);
    for (const backend of [new URL(s3.endpoint), new URL(web.url), new URL(hub.url), new URL(standin.url)]) {
      fronts.push(await startTlsFront({ host: backend.hostname, port: Number(backend.port) }, loopback));
    }
    await s3.put('sentiment/v1/model.onnx', model);
    web.routes.set('/model.onnx', { body: model });
    serveHfRepo(hub, 'acme/tiny', 'main', [{ path: 'config.json', body: Buffer.from('{}') }, { path: 'model.safetensors', body: model, lfs: true }]);
    work = await tempDir('ms-tls-ca-');
    certsDir = path.join(work, 'certs.d');
    mkdirSync(path.join(certsDir, registry.host), { recursive: true });
    copyFileSync(ca.certPath, path.join(certsDir, registry.host, 'ca.crt'));
    caOnly = ca.certPath;
    // The base goes in with skopeo (verification off: this test is about model-sync's trust).
    const base = path.join(work, 'base');
    await buildBusyboxBase(base);
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${base}:latest`, `docker://${registry.host}/library/busybox:latest`]);
  });
  after(async () => {
    await Promise.all([registry?.stop(), s3?.stop(), web?.stop(), hub?.stop(), standin?.stop(), ...fronts.map((f) => f.stop())]);
    if (work) await rm(work, { recursive: true, force: true });
    ca?.remove();
  });

  let n = 0;
  const workspace = () => path.join(work, `ws${++n}`);

  describe('S3', () => {
    const fetchS3 = (env: Record<string, string>) =>
      runCli(['fetch'], {
        MODEL_SYNC_STORAGE_PATH: workspace(),
        MODEL_SYNC_SOURCE_TYPE: 's3',
        MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
        MODEL_SYNC_SOURCE_AWS_KEY: 'sentiment/v1',
        MODEL_SYNC_SOURCE_AWS_ENDPOINT: s3Url(),
        MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY,
        MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
        ...NO_CA_ENV,
        ...env,
      });

    it('without the CA: exit 2, names --source-aws-ca-bundle and AWS_CA_BUNDLE', async () => {
      const before = fronts[0]!.refused;
      const r = await fetchS3({ SSL_CERT_FILE: SYSTEM_BUNDLE });
      assertRefused(r, `127.0.0.1:${fronts[0]!.port}`, /--source-aws-ca-bundle \/ MODEL_SYNC_SOURCE_AWS_CA_BUNDLE \(or AWS_CA_BUNDLE\)/, { front: fronts[0]!, before });
    });
    it('--source-aws-ca-bundle, AWS_CA_BUNDLE, SSL_CERT_FILE and NODE_EXTRA_CA_CERTS each trust it', async () => {
      for (const env of <Array<Record<string, string>>>[{ MODEL_SYNC_SOURCE_AWS_CA_BUNDLE: caOnly }, { AWS_CA_BUNDLE: caOnly }, { SSL_CERT_FILE: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly, SSL_CERT_FILE: SYSTEM_BUNDLE }]) {
        const r = await fetchS3(env);
        assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
      }
    });
    it('the destination: --destination-aws-ca-bundle, named when missing', async () => {
      const ws = workspace();
      const local = path.join(work, 'local-model');
      mkdirSync(local, { recursive: true });
      writeFileSync(path.join(local, 'model.onnx'), model);
      assert.equal((await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: local })).code, 0);
      const push = (env: Record<string, string>) =>
        runCli(['push'], {
          MODEL_SYNC_STORAGE_PATH: ws,
          MODEL_SYNC_DESTINATION_TYPE: 's3',
          MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
          MODEL_SYNC_DESTINATION_AWS_KEY: 'pushed/v1',
          MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3Url(),
          MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: S3RVER_KEY,
          MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
          ...NO_CA_ENV,
          ...env,
        });
      assertRefused(await push({}), `127.0.0.1:${fronts[0]!.port}`, /--destination-aws-ca-bundle \/ MODEL_SYNC_DESTINATION_AWS_CA_BUNDLE \(or AWS_CA_BUNDLE\)/);
      const ok = await push({ MODEL_SYNC_DESTINATION_AWS_CA_BUNDLE: caOnly });
      assert.equal(ok.code, 0, ok.stderr);
    });
    it('a bundle that is not one is refused up front, naming the setting', async () => {
      const junk = path.join(work, 'junk.pem');
      writeFileSync(junk, 'not a certificate\n');
      const r = await fetchS3({ MODEL_SYNC_SOURCE_AWS_CA_BUNDLE: junk });
      assert.equal(r.code, EXIT.config);
      assert.match(r.termination, /--source-aws-ca-bundle \/ MODEL_SYNC_SOURCE_AWS_CA_BUNDLE: .*junk\.pem holds no PEM certificate/);
      const gone = await fetchS3({ AWS_CA_BUNDLE: path.join(work, 'nope.pem') });
      assert.equal(gone.code, EXIT.config);
      assert.match(gone.termination, /\$AWS_CA_BUNDLE \(the fallback of --source-aws-ca-bundle \/ MODEL_SYNC_SOURCE_AWS_CA_BUNDLE\): CA bundle .*nope\.pem cannot be read: ENOENT/);
    });
  });

  describe('HTTP(S) and hf:// sources', () => {
    const fetchUri = (uri: string, env: Record<string, string>) => runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: workspace(), MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: uri, ...NO_CA_ENV, ...env });

    it('https://: refused without the CA (names --source-uri-ca-bundle); each way of trusting it works', async () => {
      const uri = `${webUrl()}/model.onnx`;
      const before = fronts[1]!.refused;
      assertRefused(await fetchUri(uri, {}), `127.0.0.1:${fronts[1]!.port}`, /--source-uri-ca-bundle \/ MODEL_SYNC_SOURCE_URI_CA_BUNDLE/, { front: fronts[1]!, before });
      for (const env of <Array<Record<string, string>>>[{ MODEL_SYNC_SOURCE_URI_CA_BUNDLE: caOnly }, { SSL_CERT_FILE: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly, SSL_CERT_FILE: SYSTEM_BUNDLE }]) {
        const r = await fetchUri(uri, env);
        assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
      }
    });
    it('hf:// with HF_ENDPOINT behind the CA: refused without it; each way of trusting it works', async () => {
      const hf = { HF_ENDPOINT: hubUrl() };
      const before = fronts[2]!.refused;
      assertRefused(await fetchUri('hf://acme/tiny', hf), `127.0.0.1:${fronts[2]!.port}`, /--source-uri-ca-bundle \/ MODEL_SYNC_SOURCE_URI_CA_BUNDLE/, { front: fronts[2]!, before });
      for (const env of <Array<Record<string, string>>>[{ MODEL_SYNC_SOURCE_URI_CA_BUNDLE: caOnly }, { SSL_CERT_FILE: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly }]) {
        const r = await fetchUri('hf://acme/tiny', { ...hf, ...env });
        assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
      }
    });
  });

  describe('Model Registry', () => {
    const preflight = async (env: Record<string, string>) => {
      const metadata = await metadataFolder(SAMPLE_CREATE_MODEL);
      try {
        return await runCli(['preflight'], {
          MODEL_SYNC_STORAGE_PATH: workspace(),
          MODEL_SYNC_REGISTRY_SERVER_ADDRESS: mrUrl(),
          MODEL_SYNC_REGISTRY_IS_SECURE: 'true',
          MODEL_SYNC_REGISTRY_USER_TOKEN: 'test-token',
          MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
          MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
          MODEL_SYNC_SOURCE_TYPE: 'uri',
          MODEL_SYNC_SOURCE_URI: path.join(work, 'base'),
          MODEL_SYNC_DESTINATION_TYPE: 'oci',
          MODEL_SYNC_DESTINATION_OCI_URI: `oci:${path.join(work, 'mr-out')}:v1`,
          // A local base: preflight resolves the base image, and this test is about Model Registry's trust.
          MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `oci:${path.join(work, 'base')}:latest`,
          ...NO_CA_ENV,
          ...env,
        });
      } finally {
        await rm(metadata, { recursive: true, force: true });
      }
    };

    it('refused without the CA (names --registry-custom-ca and --registry-is-secure); --registry-custom-ca and the environment work', async () => {
      const before = fronts[3]!.refused;
      const refused = await preflight({});
      assertRefused(refused, `127.0.0.1:${fronts[3]!.port}`, /--registry-custom-ca \/ MODEL_SYNC_REGISTRY_CUSTOM_CA, or set --registry-is-secure false \/ MODEL_SYNC_REGISTRY_IS_SECURE=false/, { front: fronts[3]!, before });
      for (const env of <Array<Record<string, string>>>[{ MODEL_SYNC_REGISTRY_CUSTOM_CA: caOnly }, { SSL_CERT_FILE: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly, SSL_CERT_FILE: SYSTEM_BUNDLE }]) {
        const r = await preflight(env);
        assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
      }
    });
  });

  describe('OCI registry (certs.d)', () => {
    let ws: string;
    const dest = () => `${registry.host}/models/sentiment:1.0.0`;
    const ociEnv = (env: Record<string, string>) => ({
      MODEL_SYNC_STORAGE_PATH: ws,
      MODEL_SYNC_DESTINATION_TYPE: 'oci',
      MODEL_SYNC_DESTINATION_OCI_URI: dest(),
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${registry.host}/library/busybox:latest`,
      ...NO_CA_ENV,
      ...env,
    });

    before(async () => {
      ws = workspace();
      const local = path.join(work, 'oci-model');
      mkdirSync(local, { recursive: true });
      writeFileSync(path.join(local, 'model.onnx'), model);
      const r = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: local });
      assert.equal(r.code, 0, r.stderr);
    });

    it('package: the base on the destination host uses --destination-oci-cert-dir (named when it lacks the CA)', async () => {
      const refused = await runCli(['package'], ociEnv({ SSL_CERT_FILE: SYSTEM_BUNDLE }));
      assertRefused(refused, registry.host, new RegExp(`--destination-oci-cert-dir / MODEL_SYNC_DESTINATION_OCI_CERT_DIR \\(<dir>/${escape(registry.host)}/ca\\.crt\\), or set --destination-oci-enable-tls-verify false / MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY=false`));
      const empty = path.join(work, 'empty-certs.d');
      mkdirSync(empty, { recursive: true });
      const stillRefused = await runCli(['package'], ociEnv({ MODEL_SYNC_DESTINATION_OCI_CERT_DIR: empty }));
      assertRefused(stillRefused, registry.host, new RegExp(`\\(${escape(empty)}/${escape(registry.host)}/ca\\.crt\\)`));
      const ok = await runCli(['package'], ociEnv({ MODEL_SYNC_DESTINATION_OCI_CERT_DIR: certsDir }));
      assert.equal(ok.code, 0, ok.stderr);
    });

    it('push: refused without the CA; --destination-oci-cert-dir trusts it', async () => {
      assertRefused(await runCli(['push'], ociEnv({})), registry.host, /--destination-oci-cert-dir \/ MODEL_SYNC_DESTINATION_OCI_CERT_DIR/);
      const ok = await runCli(['push'], ociEnv({ MODEL_SYNC_DESTINATION_OCI_CERT_DIR: certsDir }));
      assert.equal(ok.code, 0, ok.stderr);
    });

    it('fetch --source-type oci: --source-oci-cert-dir (per host, or a CA at its top as a mounted ConfigMap has it), SSL_CERT_FILE, NODE_EXTRA_CA_CERTS each trust it; none names the setting', async () => {
      const fetch = (env: Record<string, string>) => runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: workspace(), MODEL_SYNC_SOURCE_TYPE: 'oci', MODEL_SYNC_SOURCE_OCI_URI: dest(), ...NO_CA_ENV, ...env });
      assertRefused(await fetch({}), registry.host, new RegExp(`--source-oci-cert-dir / MODEL_SYNC_SOURCE_OCI_CERT_DIR \\(<dir>/${escape(registry.host)}/ca\\.crt\\), or set --source-oci-enable-tls-verify false`));
      const flat = path.join(work, 'flat-certs');
      mkdirSync(flat, { recursive: true });
      copyFileSync(ca.certPath, path.join(flat, 'ca.crt'));
      for (const env of <Array<Record<string, string>>>[{ MODEL_SYNC_SOURCE_OCI_CERT_DIR: certsDir }, { MODEL_SYNC_SOURCE_OCI_CERT_DIR: flat }, { SSL_CERT_FILE: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly }, { NODE_EXTRA_CA_CERTS: caOnly, SSL_CERT_FILE: SYSTEM_BUNDLE }]) {
        const r = await fetch(env);
        assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
        assert.ok((await readFile(path.join(work, `ws${n}`, 'model', 'model.onnx'))).equals(model));
      }
    });
  });
});

describe('trust settings (config/)', () => {
  let ca: TestCa;
  let dir: string;
  before(async () => {
    ca = createTestCa('config CA');
    dir = await tempDir('ms-certs-d-');
    mkdirSync(path.join(dir, 'registry.example:5000'));
    copyFileSync(ca.certPath, path.join(dir, 'registry.example:5000', 'ca.crt'));
    mkdirSync(path.join(dir, 'mirror.example'));
    copyFileSync(ca.certPath, path.join(dir, 'mirror.example', 'extra.crt'));
    const client = ca.issue(['client']);
    copyFileSync(client.certPath, path.join(dir, 'mirror.example', 'client.cert'));
    copyFileSync(client.keyPath, path.join(dir, 'mirror.example', 'client.key'));
    mkdirSync(path.join(dir, 'broken.example'));
    copyFileSync(client.keyPath, path.join(dir, 'broken.example', 'lonely.key'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    ca.remove();
  });

  const settings = (env: Record<string, string>, foreign: NodeJS.ProcessEnv = {}) =>
    new StepSettings(resolveConfig({ step: loadStep('package'), flags: {}, env: { MODEL_SYNC_DESTINATION_OCI_URI: 'registry.example:5000/models/x:1', ...env } }), { env: foreign });

  it('certs.d: the host[:port] folder of each host, *.crt CAs and a client pair; other hosts get none', () => {
    const trust = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'registry.example:5000/base:1', MODEL_SYNC_DESTINATION_OCI_CERT_DIR: dir }).baseImage().trust!;
    assert.deepEqual(trust.forHost!('registry.example:5000')!.ca, [ca.pem.trim()]);
    assert.equal(trust.forHost!('registry.example'), undefined, 'the port is part of the folder name');
    assert.equal(trust.forHost!('mirror.example')!.cert!.length, 1);
    assert.ok(tlsOptionsFor(trust, 'registry.example:5000').ca!.includes(ca.pem.trim()));
    assert.equal(tlsOptionsFor(trust, 'elsewhere.example').ca, undefined, 'nothing to add: Node default store');
    assert.throws(() => trust.forHost!('broken.example'), /--destination-oci-cert-dir \/ MODEL_SYNC_DESTINATION_OCI_CERT_DIR: .*lonely\.key has no client certificate lonely\.cert beside it/);
  });

  it('certs.d: CAs at the top of the folder (a ConfigMap mounted as it is) are trusted for every host, beside each host folder\'s own', async () => {
    const flat = await tempDir('ms-certs-flat-');
    try {
      const other = createTestCa('second CA');
      try {
        copyFileSync(ca.certPath, path.join(flat, 'ca.crt'));
        mkdirSync(path.join(flat, 'registry.example:5000'));
        copyFileSync(other.certPath, path.join(flat, 'registry.example:5000', 'ca.crt'));
        writeFileSync(path.join(flat, 'notes.txt'), 'not a certificate');
        const trust = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'registry.example:5000/base:1', MODEL_SYNC_DESTINATION_OCI_CERT_DIR: flat }).baseImage().trust!;
        assert.deepEqual(trust.forHost!('anywhere.example')!.ca, [ca.pem.trim()], 'a host without a folder gets the top-level CA');
        assert.deepEqual(trust.forHost!('registry.example:5000')!.ca, [ca.pem.trim(), other.pem.trim()], 'a host folder adds its own');
        writeFileSync(path.join(flat, 'broken.crt'), 'no PEM here');
        const again = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'registry.example:5000/base:1', MODEL_SYNC_DESTINATION_OCI_CERT_DIR: flat }).baseImage().trust!;
        assert.throws(() => again.forHost!('anywhere.example'), /--destination-oci-cert-dir \/ MODEL_SYNC_DESTINATION_OCI_CERT_DIR: .*broken\.crt holds no PEM certificate/);
      } finally {
        other.remove();
      }
    } finally {
      await rm(flat, { recursive: true, force: true });
    }
  });

  it('the base image on another host does not get the destination folder; its own setting applies and is named', () => {
    const onMirror = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'mirror.example/base:1', MODEL_SYNC_DESTINATION_OCI_CERT_DIR: dir }).baseImage().trust!;
    assert.equal(onMirror.forHost, undefined);
    assert.match(onMirror.addCa!('mirror.example'), /^--destination-oci-base-image-cert-dir \/ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE_CERT_DIR \(<dir>\/mirror\.example\/ca\.crt\)$/);
    const own = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'mirror.example/base:1', MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE_CERT_DIR: dir }).baseImage().trust!;
    assert.ok(own.forHost!('mirror.example'));
  });

  it('a refusal names what helps: the CA for an unknown issuer, renewal for an expired one, the names for a wrong one', () => {
    const trust = { addCa: (h: string) => `--x-cert-dir / X (<dir>/${h}/ca.crt)`, tlsSetting: '--x-tls-verify / X_TLS_VERIFY' };
    const fault = (code: string, message = 'refused') => Object.assign(new Error(message), { code });
    const unknown = certificateFailure(fault('SELF_SIGNED_CERT_IN_CHAIN'), 'r.example:5000', trust)!;
    assert.equal(unknown.kind, 'config');
    assert.equal(unknown.message, 'r.example:5000 presented a certificate no trusted CA signed (SELF_SIGNED_CERT_IN_CHAIN): add its CA with --x-cert-dir / X (<dir>/r.example:5000/ca.crt), or set --x-tls-verify false / X_TLS_VERIFY=false to skip verification');
    assert.match(certificateFailure(fault('CERT_HAS_EXPIRED'), 'r.example', trust)!.message, /^r\.example presented a certificate that has expired \(CERT_HAS_EXPIRED\): renew it on the server/);
    assert.match(certificateFailure(fault('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: r.example. is not in the cert's altnames: DNS:other.example"), 'r.example', trust)!.message, /certificate for other names \(ERR_TLS_CERT_ALTNAME_INVALID: .*DNS:other\.example\)/);
    assert.match(certificateFailure(fault('DEPTH_ZERO_SELF_SIGNED_CERT'), 'r.example', undefined)!.message, /add its CA to SSL_CERT_FILE or NODE_EXTRA_CA_CERTS$/);
    assert.equal(certificateFailure(fault('ECONNRESET'), 'r.example', trust), undefined, 'other faults keep their own handling');
  });

  it('SSL_CERT_FILE is always added; NODE_EXTRA_CA_CERTS joins whenever a ca is given', () => {
    const trust = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'registry.example:5000/base:1' }, { SSL_CERT_FILE: ca.certPath }).baseImage().trust!;
    assert.ok(tlsOptionsFor(trust, 'any.example').ca!.includes(ca.pem.trim()));
    const extra = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'registry.example:5000/base:1', MODEL_SYNC_DESTINATION_OCI_CERT_DIR: dir }, { NODE_EXTRA_CA_CERTS: ca.certPath }).baseImage().trust!;
    assert.equal(tlsOptionsFor(extra, 'any.example').ca, undefined, 'alone, Node adds NODE_EXTRA_CA_CERTS itself');
    assert.equal(tlsOptionsFor(extra, 'registry.example:5000').ca!.filter((c) => c === ca.pem.trim()).length, 1, 'once, with the certs.d CA');
    // Read when the first TLS agent is made, not before: a step that reaches nothing over TLS does not fail on it.
    const unreadable = settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'x.example/b:1' }, { SSL_CERT_FILE: path.join(dir, 'none.pem') }).baseImage().trust!;
    assert.throws(() => tlsOptionsFor(unreadable, 'x.example'), /\$SSL_CERT_FILE: CA bundle .*none\.pem cannot be read: ENOENT/);
    assert.throws(() => settings({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: 'x.example/b:1', MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE_CERT_DIR: path.join(dir, 'nope') }).baseImage(), /--destination-oci-base-image-cert-dir \/ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE_CERT_DIR: certificate folder .*nope cannot be read: ENOENT/);
  });
});
