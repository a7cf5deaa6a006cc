// Configuration as upstream's job reads it (issue 11): booleans in upstream's words, warnings for
// unknown MODEL_SYNC_* variables, Kubernetes service links refused or reported, and signing
// refused (exit 2, before any transfer or registry call) in exactly the cases upstream would sign.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { startS3Server, S3RVER_KEY, S3RVER_SECRET, type S3Server } from '../dev/s3-server.js';
import { runCli, tempDir, type CliResult } from '../dev/cli.js';
import { parameterCatalog, type StepContract } from '../src/contract/contract.js';
import { resolveConfig } from '../src/config/config.js';
import { closest, environmentWarnings } from '../src/config/environment-check.js';
import { editDistance } from '../src/util/closest-name.js';
import { serviceLinkOf } from '../src/config/service-links.js';
import { StepSettings } from '../src/config/settings.js';
import { resolveSigning } from '../src/config/signing.js';
import { loadStep } from '../src/contract/contract.js';
import { EXIT } from '../src/errors.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { localPathEnv, metadataFolder, registryEnv, SAMPLE_CREATE_MODEL } from './support/model-registry.js';

const SIGSTORE = { SIGSTORE_TUF_URL: 'https://tuf.example', SIGSTORE_FULCIO_URL: 'https://fulcio.example', SIGSTORE_REKOR_URL: 'https://rekor.example' };
const TRUE_WORDS = ['yes', 'Y', 'true', 'T', '1', 'ON', ' True ', '\tyes\n'];
const FALSE_WORDS = ['no', 'N', 'false', 'f', '0', 'Off', ' NO ', '\toff\n'];

/** The messages of the JSON log lines at one level. */
function logged(r: CliResult, level: 'warn' | 'error'): string[] {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .filter((l) => l.level === level)
    .map((l) => l.msg);
}

function oneParameterStep(name: string): StepContract {
  return { name: `only-${name}`, summary: '', description: '', parameters: [parameterCatalog().get(name)!], results: [] };
}

describe('booleans', () => {
  const booleans = [...parameterCatalog().values()].filter((p) => p.type === 'boolean');

  it('every boolean setting takes yes/y/true/t/1/on and no/n/false/f/0/off in any case, spaces around ignored', () => {
    assert.ok(booleans.length >= 5, 'the catalog has its booleans');
    for (const spec of booleans) {
      const step = oneParameterStep(spec.name);
      for (const word of TRUE_WORDS) assert.equal(resolveConfig({ step, flags: {}, env: { [spec.env]: word } }).value(spec.name), true, `${spec.env}=${JSON.stringify(word)}`);
      for (const word of FALSE_WORDS) assert.equal(resolveConfig({ step, flags: {}, env: { [spec.env]: word } }).value(spec.name), false, `${spec.env}=${JSON.stringify(word)}`);
      assert.equal(resolveConfig({ step, flags: { [spec.name]: 'oFf' } }).value(spec.name), false, `${spec.flag} oFf`);
    }
  });

  it('anything else is a config error naming flag and env var and listing the words', () => {
    for (const spec of booleans) {
      for (const bad of ['maybe', 'enabled', '2', 'yes please', 'tru']) {
        assert.throws(
          () => resolveConfig({ step: oneParameterStep(spec.name), flags: {}, env: { [spec.env]: bad } }),
          (e: Error) => e.message === `${spec.flag} / ${spec.env}: "${bad}" is not a boolean (use yes/y/true/t/1/on or no/n/false/f/0/off, in any case)`,
        );
      }
    }
  });

  it('through the CLI: --registry-is-secure " Off " reaches the http stand-in; "maybe" exits 2', async () => {
    const standin = await startStandin();
    const ws = await tempDir('ms-bool-');
    const metadata = await metadataFolder(SAMPLE_CREATE_MODEL, { volume: true });
    try {
      const base = registryEnv(standin, { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata, MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model' });
      for (const word of [' Off ', 'N', 'f']) {
        const ok = await runCli(['register', '--model-uri', 'oci://r.example/m:1'], { ...base, MODEL_SYNC_REGISTRY_IS_SECURE: word });
        assert.equal(ok.code, 0, `${JSON.stringify(word)}: ${ok.stderr}`);
        standin.state.reset();
      }
      const bad = await runCli(['register'], { ...base, MODEL_SYNC_REGISTRY_IS_SECURE: 'maybe' });
      assert.equal(bad.code, EXIT.config);
      assert.equal(bad.termination, '--registry-is-secure / MODEL_SYNC_REGISTRY_IS_SECURE: "maybe" is not a boolean (use yes/y/true/t/1/on or no/n/false/f/0/off, in any case)');
      assert.equal(standin.state.exchanges.length, 0);
    } finally {
      await standin.stop();
      await rm(ws, { recursive: true, force: true });
      await rm(metadata, { recursive: true, force: true });
    }
  });

  it('--help says which words booleans accept and that on/off is more lenient than upstream', async () => {
    const r = await runCli(['preflight', '--help']);
    assert.match(r.stdout, /Booleans accept yes\/y\/true\/t\/1\/on or no\/n\/false\/f\/0\/off, in any case \(on\/off is more lenient\s+than upstream/);
  });
});

describe('unknown MODEL_SYNC_* variables', () => {
  it('edit distance counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('BUCKET', 'BUKCET'), 1);
    assert.equal(editDistance('SIGN', 'SIGNED'), 2);
    assert.equal(editDistance('', 'ABC'), 3);
  });

  it('the closest setting of the whole catalog, or none when nothing is near', () => {
    const known = [...parameterCatalog().values()].map((p) => p.env);
    assert.equal(closest('MODEL_SYNC_SOURCE_AWS_BUKCET', known), 'MODEL_SYNC_SOURCE_AWS_BUCKET');
    assert.equal(closest('MODEL_SYNC_LOGLEVEL', known), 'MODEL_SYNC_LOG_LEVEL');
    assert.equal(closest('MODEL_SYNC_DESTINATION_OCI_TLS_VERIFY', known), 'MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY');
    assert.equal(closest('MODEL_SYNC_FOOBAR', known), undefined);
    assert.equal(closest('MODEL_SYNC_SIGNING_TSA_URL', known), undefined);
  });

  it('one warning each, naming the closest setting even of another step; settings of other steps are known', () => {
    const warnings = environmentWarnings({
      step: loadStep('fetch'),
      flags: {},
      env: {
        MODEL_SYNC_SOURCE_AWS_BUKCET: 'b',
        MODEL_SYNC_REGISTRY_SERVR_ADDRESS: 'http://mr',
        MODEL_SYNC_FOOBAR: 's3cr3t-value',
        MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'http://mr', // register's, not fetch's: no warning
        MODEL_SYNC_LOG_FORMAT: 'json',
        SOURCE_AWS_BUKCET: 'not ours',
      },
    });
    assert.deepEqual(warnings, [
      'MODEL_SYNC_FOOBAR is not a model-sync setting and is ignored; no close match among the known settings (model-sync <step> --help lists them)',
      'MODEL_SYNC_REGISTRY_SERVR_ADDRESS is not a model-sync setting and is ignored; did you mean MODEL_SYNC_REGISTRY_SERVER_ADDRESS (--registry-server-address)?',
      'MODEL_SYNC_SOURCE_AWS_BUKCET is not a model-sync setting and is ignored; did you mean MODEL_SYNC_SOURCE_AWS_BUCKET (--source-aws-bucket)?',
    ]);
    assert.ok(!warnings.join(' ').includes('s3cr3t'), 'values never appear');
  });

  it('through the CLI: logged as warnings before the settings are resolved, once per run (all too)', async () => {
    const ws = await tempDir('ms-unknown-');
    try {
      const fetch = await runCli(['fetch', '--storage-path', ws], { MODEL_SYNC_SOURCE_AWS_BUKCET: 'models', MODEL_SYNC_SOURCE_AWS_KEY: 'k' });
      assert.equal(fetch.code, EXIT.config, 'the misspelt bucket is missing');
      assert.deepEqual(logged(fetch, 'warn'), ['MODEL_SYNC_SOURCE_AWS_BUKCET is not a model-sync setting and is ignored; did you mean MODEL_SYNC_SOURCE_AWS_BUCKET (--source-aws-bucket)?']);
      assert.match(logged(fetch, 'error')[0]!, /--source-aws-bucket \/ MODEL_SYNC_SOURCE_AWS_BUCKET is required/);

      // all runs preflight, then stops at signing (before any transfer): the warning came once.
      const all = await runCli(['all', '--storage-path', ws, '--sign'], { MODEL_SYNC_SIGNN: 'yes', MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'http://127.0.0.1:9', MODEL_SYNC_DESTINATION_OCI_URI: 'r.example/m:1', MODEL_SYNC_MODEL_ARTIFACT_ID: '1', MODEL_SYNC_SOURCE_AWS_BUCKET: 'b', MODEL_SYNC_SOURCE_AWS_KEY: 'k' });
      assert.equal(all.code, EXIT.config, all.stderr);
      assert.deepEqual(logged(all, 'warn'), ['MODEL_SYNC_SIGNN is not a model-sync setting and is ignored; did you mean MODEL_SYNC_SIGN (--sign)?']);
    } finally {
      await rm(ws, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes service links', () => {
  // What the kubelet injects for a Service named model-sync-registry (port 8080) and one named model-sync (port 80).
  const REGISTRY_LINKS = {
    MODEL_SYNC_REGISTRY_SERVICE_HOST: '10.96.0.12',
    MODEL_SYNC_REGISTRY_SERVICE_PORT: '8080',
    MODEL_SYNC_REGISTRY_SERVICE_PORT_HTTP_API: '8080',
    MODEL_SYNC_REGISTRY_PORT: 'tcp://10.96.0.12:8080',
    MODEL_SYNC_REGISTRY_PORT_8080_TCP: 'tcp://10.96.0.12:8080',
    MODEL_SYNC_REGISTRY_PORT_8080_TCP_PROTO: 'tcp',
    MODEL_SYNC_REGISTRY_PORT_8080_TCP_PORT: '8080',
    MODEL_SYNC_REGISTRY_PORT_8080_TCP_ADDR: '10.96.0.12',
  };
  const SYNC_LINKS = {
    MODEL_SYNC_SERVICE_HOST: '10.96.0.13',
    MODEL_SYNC_SERVICE_PORT: '80',
    MODEL_SYNC_PORT: 'tcp://10.96.0.13:80',
    MODEL_SYNC_PORT_80_UDP: 'udp://10.96.0.13:80',
  };

  it('recognises the link shapes and the Service behind them', () => {
    for (const [name, value] of Object.entries(REGISTRY_LINKS)) assert.deepEqual(serviceLinkOf(name, value), { service: 'model-sync-registry' }, name);
    for (const [name, value] of Object.entries(SYNC_LINKS)) assert.deepEqual(serviceLinkOf(name, value), { service: 'model-sync' }, name);
    assert.deepEqual(serviceLinkOf('MODEL_SYNC_X_PORT', 'sctp://[fd00::1]:9000'), { service: 'model-sync-x' });
    assert.deepEqual(serviceLinkOf('MODEL_SYNC_ENDPOINT', 'tcp://10.0.0.1:80'), {}, 'a link value under another name: no Service to name');
    assert.equal(serviceLinkOf('MODEL_SYNC_REGISTRY_PORT', '8080'), undefined, 'a plain port is a setting');
    assert.equal(serviceLinkOf('MODEL_SYNC_SOURCE_URI', 'https://h:443'), undefined);
  });

  it('a known setting with a tcp:// env value exits 2 naming it, the Service and the fixes; no registry call', async () => {
    const standin = await startStandin();
    const ws = await tempDir('ms-links-');
    try {
      const r = await runCli(['register', '--storage-path', ws, '--model-uri', 'oci://r.example/m:1'], registryEnv(standin, { MODEL_SYNC_MODEL_ARTIFACT_ID: '1', ...REGISTRY_LINKS }));
      assert.equal(r.code, EXIT.config, r.stderr);
      assert.equal(
        r.termination,
        '--registry-port / MODEL_SYNC_REGISTRY_PORT: the environment value ("tcp://10.96.0.12:8080") looks like a Kubernetes service link from a Service named model-sync-registry, ' +
          "not a value for this setting; set enableServiceLinks: false in the pod spec, or rename the Service, or set the value explicitly (--registry-port, or MODEL_SYNC_REGISTRY_PORT in the container's env, which wins over service links)",
      );
      assert.equal(standin.state.exchanges.length, 0);
      // The other link variables of that Service: one warning, no "did you mean".
      assert.deepEqual(logged(r, 'warn'), [
        'MODEL_SYNC_REGISTRY_PORT_8080_TCP, MODEL_SYNC_REGISTRY_PORT_8080_TCP_ADDR, MODEL_SYNC_REGISTRY_PORT_8080_TCP_PORT, MODEL_SYNC_REGISTRY_PORT_8080_TCP_PROTO, ' +
          'MODEL_SYNC_REGISTRY_SERVICE_HOST, MODEL_SYNC_REGISTRY_SERVICE_PORT, MODEL_SYNC_REGISTRY_SERVICE_PORT_HTTP_API are Kubernetes service-link variables of a Service named model-sync-registry, ' +
          'not settings, and are ignored (set enableServiceLinks: false in the pod spec, or rename the Service)',
      ]);
    } finally {
      await standin.stop();
      await rm(ws, { recursive: true, force: true });
    }
  });

  it('a flag is never refused as a link: it wins over the injected variable, and a tcp:// flag is just a bad value', async () => {
    const standin = await startStandin();
    const ws = await tempDir('ms-links-');
    const metadata = await metadataFolder(SAMPLE_CREATE_MODEL, { volume: true });
    try {
      const env = registryEnv(standin, { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata, MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model', ...REGISTRY_LINKS });
      const ok = await runCli(['register', '--model-uri', 'oci://r.example/m:1', '--registry-port', '443'], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(logged(ok, 'warn').length, 1, 'one warning for the Service, MODEL_SYNC_REGISTRY_PORT (unread) among its variables');
      assert.match(logged(ok, 'warn')[0]!, /^MODEL_SYNC_REGISTRY_PORT, MODEL_SYNC_REGISTRY_PORT_8080_TCP, .* of a Service named model-sync-registry/);
      const flag = await runCli(['register', '--model-uri', 'oci://r.example/m:1', '--registry-port', 'tcp://10.96.0.12:8080'], env);
      assert.equal(flag.code, EXIT.config);
      assert.equal(flag.termination, '--registry-port / MODEL_SYNC_REGISTRY_PORT: "tcp://10.96.0.12:8080" is not an integer');
    } finally {
      await standin.stop();
      await rm(ws, { recursive: true, force: true });
      await rm(metadata, { recursive: true, force: true });
    }
  });

  it('unknown link variables: one warning per Service, whatever step runs', () => {
    const warnings = environmentWarnings({ step: loadStep('fetch'), flags: {}, env: { ...REGISTRY_LINKS, ...SYNC_LINKS, MODEL_SYNC_ENDPOINT: 'tcp://10.0.0.1:80' } });
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.match(warnings[0]!, /^MODEL_SYNC_ENDPOINT is a Kubernetes service-link variable, not a setting, and is ignored/);
    assert.match(warnings[1]!, /^MODEL_SYNC_PORT, MODEL_SYNC_PORT_80_UDP, MODEL_SYNC_SERVICE_HOST, MODEL_SYNC_SERVICE_PORT are Kubernetes service-link variables of a Service named model-sync,/);
    assert.match(warnings[2]!, /^MODEL_SYNC_REGISTRY_PORT, MODEL_SYNC_REGISTRY_PORT_8080_TCP, .* of a Service named model-sync-registry,/);
    assert.ok(warnings.every((w) => !w.includes('did you mean')));
  });
});

describe('signing', () => {
  let standin: Standin;
  let oci: TestHttpServer;
  const dirs: string[] = [];
  before(async () => {
    [standin, oci] = await Promise.all([startStandin(), startHttpServer()]);
  });
  after(async () => {
    await Promise.all([standin.stop(), oci.stop()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function dir(prefix: string): Promise<string> {
    const d = await tempDir(prefix);
    dirs.push(d);
    return d;
  }
  /** Everything a preflight/package/push/all run needs; the OCI side points at a server that counts requests. */
  async function env(extra: Record<string, string | undefined> = {}): Promise<Record<string, string | undefined>> {
    const metadata = await metadataFolder({ ...SAMPLE_CREATE_MODEL, 'RegisteredModel.name': `signing-${dirs.length}` }, { volume: true });
    dirs.push(metadata);
    const host = new URL(oci.url).host;
    return registryEnv(standin, {
      MODEL_SYNC_STORAGE_PATH: await dir('ms-sign-'),
      MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
      MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
      MODEL_SYNC_SOURCE_TYPE: 'uri',
      MODEL_SYNC_SOURCE_URI: `${oci.url}/model.bin`,
      MODEL_SYNC_DESTINATION_OCI_URI: `${host}/models/m:1`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${host}/library/busybox:latest`,
      MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
      ...extra,
    });
  }
  const untouched = () => {
    assert.equal(standin.state.exchanges.length, 0, 'no Model Registry call');
    assert.equal(oci.requests.length, 0, 'no transfer');
  };
  const reset = () => {
    standin.state.reset();
    oci.requests.length = 0;
  };

  it('resolves as upstream: the setting when given, else all three SIGSTORE_*_URL variables', () => {
    const s = '--sign / MODEL_SYNC_SIGN';
    const base = { signSetting: s, identityTokenPath: undefined };
    assert.equal(resolveSigning({ ...base, sign: true, env: {} }).enabled, true);
    assert.equal(resolveSigning({ ...base, sign: false, env: SIGSTORE }).enabled, false);
    assert.equal(resolveSigning({ ...base, sign: undefined, env: SIGSTORE }).enabled, true);
    assert.deepEqual(resolveSigning({ ...base, sign: undefined, env: {} }), { enabled: false, reason: 'no SIGSTORE variable is set', setting: s, missing: [] });
    const partial = resolveSigning({ ...base, sign: undefined, env: { ...SIGSTORE, SIGSTORE_FULCIO_URL: '', SIGSTORE_TUF_URL: undefined } });
    assert.deepEqual([partial.enabled, partial.missing], [false, ['SIGSTORE_FULCIO_URL', 'SIGSTORE_TUF_URL']]);
    assert.equal(resolveSigning({ ...base, sign: undefined, env: { SIGSTORE_TSA_URL: 'x' } }).missing.length, 0, 'TSA alone is no SIGSTORE set (upstream ignores it)');
  });

  it('the incomplete-SIGSTORE warning is logged once per run, however many parts ask', () => {
    const config = resolveConfig({ step: loadStep('all'), flags: {}, env: { MODEL_SYNC_DESTINATION_OCI_URI: 'r/x:1', MODEL_SYNC_MODEL_ARTIFACT_ID: '1', MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'http://mr', MODEL_SYNC_SOURCE_AWS_BUCKET: 'b', MODEL_SYNC_SOURCE_AWS_KEY: 'k' } });
    const settings = new StepSettings(config, { env: { SIGSTORE_REKOR_URL: 'https://rekor.example' } });
    const warned: string[] = [];
    const log = { warn: (m: string) => void warned.push(m) };
    for (let i = 0; i < 3; i++) assert.equal(settings.signing(log).enabled, false);
    assert.deepEqual(warned, ['Signing disabled, incomplete SIGSTORE configuration, missing: SIGSTORE_FULCIO_URL, SIGSTORE_TUF_URL.']);
  });

  for (const step of ['preflight', 'package', 'push', 'all'] as const) {
    it(`${step}: --sign / MODEL_SYNC_SIGN true exits 2 before any registry call or transfer`, async () => {
      reset();
      for (const [args, extra] of [[['--sign'], {}], [['--sign', 'ON'], {}], [[], { MODEL_SYNC_SIGN: ' y ' }]] as const) {
        const e = await env(extra);
        const r = await runCli([step, ...args], e);
        assert.equal(r.code, EXIT.config, r.stderr);
        assert.equal(r.termination, 'signing is not supported by model-sync yet: --sign / MODEL_SYNC_SIGN is true; set --sign / MODEL_SYNC_SIGN to false to move the model unsigned');
        untouched();
        assert.deepEqual(await readdir(path.join(e.MODEL_SYNC_STORAGE_PATH!, 'model')), [], 'nothing fetched');
        assert.equal(existsSync(path.join(e.MODEL_SYNC_STORAGE_PATH!, 'image')), false, 'no image layout');
      }
    });

    it(`${step}: all three SIGSTORE_*_URL set and --sign unset exits 2 naming them`, async () => {
      reset();
      const r = await runCli([step], { ...(await env()), ...SIGSTORE });
      assert.equal(r.code, EXIT.config, r.stderr);
      assert.equal(
        r.termination,
        "signing is not supported by model-sync yet: SIGSTORE_TUF_URL, SIGSTORE_FULCIO_URL, SIGSTORE_REKOR_URL are all set and --sign / MODEL_SYNC_SIGN is not, so upstream's job would sign; set --sign / MODEL_SYNC_SIGN to false to move the model unsigned",
      );
      untouched();
    });
  }

  it('push: a refused run leaves the previous result in place (the check comes before the workspace is changed)', async () => {
    reset();
    const e = await env({ MODEL_SYNC_SIGN: 'true' });
    const ws = e.MODEL_SYNC_STORAGE_PATH!;
    await mkdir(path.join(ws, '.model-sync/results'), { recursive: true });
    await writeFile(path.join(ws, '.model-sync/push.json'), '{"destination":"oci"}\n');
    await writeFile(path.join(ws, '.model-sync/results/model-uri'), 'oci://earlier/m:1');
    const r = await runCli(['push'], e);
    assert.equal(r.code, EXIT.config);
    assert.equal(await readFile(path.join(ws, '.model-sync/push.json'), 'utf8'), '{"destination":"oci"}\n');
    assert.equal(await readFile(path.join(ws, '.model-sync/results/model-uri'), 'utf8'), 'oci://earlier/m:1');
    untouched();
  });

  it('--sign false with all SIGSTORE_*_URL set does not sign and does not fail', async () => {
    reset();
    for (const word of ['false', 'OFF', ' n ']) {
      const r = await runCli(['preflight'], { ...(await env({ MODEL_SYNC_SIGN: word, ...(await localPathEnv(await dir('ms-path-'))) })), ...SIGSTORE });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(logged(r, 'warn'), []);
    }
    assert.ok(standin.state.exchanges.length > 0, 'preflight went on to the registry');
  });

  it('only some SIGSTORE_*_URL set: upstream\'s warning, once, and no failure', async () => {
    reset();
    // A path preflight can check without servers: these runs pass it and go on to the registry.
    const local = await localPathEnv(await dir('ms-path-'));
    const r = await runCli(['preflight'], { ...(await env(local)), SIGSTORE_TUF_URL: SIGSTORE.SIGSTORE_TUF_URL, SIGSTORE_FULCIO_URL: '', SIGSTORE_REKOR_URL: SIGSTORE.SIGSTORE_REKOR_URL });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(logged(r, 'warn'), ['Signing disabled, incomplete SIGSTORE configuration, missing: SIGSTORE_FULCIO_URL.']);
    const none = await runCli(['preflight'], await env(local));
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(logged(none, 'warn'), [], 'no SIGSTORE variable: silent, as upstream');
  });
});

describe('signing in a whole run', () => {
  let standin: Standin;
  let s3: S3Server;
  const dirs: string[] = [];
  before(async () => {
    [standin, s3] = await Promise.all([startStandin(), startS3Server('models')]);
  });
  after(async () => {
    await Promise.all([standin.stop(), s3.stop()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('all with an incomplete SIGSTORE set: moves and registers the model, the warning logged once', async () => {
    const model = await tempDir('ms-model-');
    const ws = await tempDir('ms-ws-');
    const metadata = await metadataFolder(SAMPLE_CREATE_MODEL, { volume: true });
    dirs.push(model, ws, metadata);
    await writeFile(path.join(model, 'model.bin'), 'weights');
    const r = await runCli(
      ['all'],
      registryEnv(standin, {
        MODEL_SYNC_STORAGE_PATH: ws,
        MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
        MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
        MODEL_SYNC_SOURCE_TYPE: 'uri',
        MODEL_SYNC_SOURCE_URI: model,
        MODEL_SYNC_DESTINATION_TYPE: 's3',
        MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
        MODEL_SYNC_DESTINATION_AWS_KEY: 'signing/v1',
        MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
        MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: S3RVER_KEY,
        MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
        SIGSTORE_REKOR_URL: SIGSTORE.SIGSTORE_REKOR_URL,
      }),
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(logged(r, 'warn'), ['Signing disabled, incomplete SIGSTORE configuration, missing: SIGSTORE_FULCIO_URL, SIGSTORE_TUF_URL.']);
    assert.match(JSON.parse(r.stdout)['model-uri'], /^s3:\/\/models\/signing\/v1/);
  });
});
