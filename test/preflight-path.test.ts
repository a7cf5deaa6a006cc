// preflight checks the whole path before Model Registry is asked and before any model byte moves
// (issue 13, item 5): a wrong registry password, a wrong S3 secret (Ceph RGW), a missing source object and a
// too-small volume are each refused by `preflight` and by `all` with their own exit code and a line
// naming the setting to fix; the registry state is unchanged (an update_artifact artifact is not
// set PENDING, a create_model creates nothing) and nothing is downloaded. A valid path passes, and
// the probes leave no upload session, blob or object behind.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { buildMinimalBase } from '../dev/minimal-base.js';
import { CLI, cleanEnv, runCli, tempDir } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import type { Rgw } from '../dev/rgw.js';
import { EXIT } from '../src/errors.js';
import { withMargin } from '../src/steps/preflight-path.js';
import { serveHfRepo, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { useStandin } from './support/model-registry.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';

const MiB = 1024 * 1024;

function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}
const mr = useStandin();
// A real S3 (Ceph RGW): it checks SigV4 signatures, so a wrong secret is refused, and it lists multipart uploads.
const rgw = useRgw();

function noVolume(): string | false {
  if (process.getuid?.() !== 0) return 'needs root: a tmpfs is mounted in a private mount namespace (unshare -m)';
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `unshare -m cannot mount a tmpfs here: ${probe.stderr?.trim() ?? probe.error?.message}`;
  return false;
}

interface Run {
  code: number;
  stderr: string;
  termination: string;
  /** Files in the workspace's model/ after the run. */
  modelFiles: string[];
  inventory: boolean;
}

const skip = registryAvailable() ? false : 'docker-registry is not installed';

describe('preflight checks the whole path', { skip }, () => {
  let registry: TestRegistry;
  let s3: Rgw;
  let web: TestHttpServer;
  let baseImage = '';
  const model = Buffer.alloc(2 * MiB, 7);

  before(async () => {
    [registry, s3, web] = await Promise.all([startRegistry({ mode: 'htpasswd' }), rgw.ready, startHttpServer()]);
    await s3.put('models/granite/model.bin', model);
    web.routes.set('/model.bin', { body: model });
    web.routes.set('/big.bin', { body: Buffer.alloc(40 * MiB) });
    baseImage = (await buildMinimalBase(await mr.dir('ms-base-'))).reference;
  });
  after(async () => {
    await Promise.all([registry?.stop(), web?.stop()]);
  });

  /** A valid path: an http source, the htpasswd registry with the right password, a layout base image. */
  function pathEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return {
      MODEL_SYNC_SOURCE_TYPE: 'uri',
      MODEL_SYNC_SOURCE_URI: `${web.url}/model.bin`,
      MODEL_SYNC_DESTINATION_TYPE: 'oci',
      MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/granite:1`,
      MODEL_SYNC_DESTINATION_OCI_USERNAME: registry.username,
      MODEL_SYNC_DESTINATION_OCI_PASSWORD: registry.password,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: baseImage,
      MODEL_SYNC_RETRY_ATTEMPTS: '2',
      ...extra,
    };
  }

  const s3Source = (key: string) => rgwSourceEnv(s3, key);
  const s3Destination = (extra: Record<string, string> = {}) => ({
    MODEL_SYNC_DESTINATION_TYPE: 's3',
    MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
    MODEL_SYNC_DESTINATION_AWS_KEY: 'pushed/granite',
    MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
    MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: s3.accessKey,
    MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: s3.secretKey,
    ...extra,
  });

  async function placeholder(name: string) {
    const m = await mr.client.createRegisteredModel({ name, state: 'LIVE' });
    const version = await mr.client.createModelVersion({ name: 'v1', registeredModelId: m.id, state: 'LIVE' });
    return mr.client.createModelVersionArtifact(version.id, { artifactType: 'model-artifact', name: 'v1', uri: 'PLACEHOLDER', state: 'UNKNOWN' });
  }

  /** The registry side of a run: an update_artifact placeholder, or a create_model name nobody has. */
  async function intent(kind: 'update_artifact' | 'create_model', label: string) {
    if (kind === 'update_artifact') {
      const artifact = await placeholder(`pf-${label}`);
      return {
        env: { MODEL_SYNC_MODEL_ARTIFACT_ID: artifact.id },
        metadata: undefined,
        unchanged: async () => {
          const now = (await mr.client.getModelArtifact(artifact.id))!;
          assert.equal(now.state, 'UNKNOWN', `${label}: the artifact is not set PENDING (nor ABANDONED)`);
          assert.equal(now.uri, 'PLACEHOLDER');
        },
      };
    }
    const name = `pf-new-${label}`;
    return {
      env: {},
      metadata: await mr.meta({ 'RegisteredModel.name': name }),
      unchanged: async () => assert.equal(await mr.client.findRegisteredModel(name), undefined, `${label}: no RegisteredModel created`),
    };
  }

  async function inspect(ws: string, r: { code: number; stderr: string; termination: string }): Promise<Run> {
    const modelFiles = await readdir(path.join(ws, 'model')).catch(() => [] as string[]);
    return { ...r, modelFiles, inventory: existsSync(path.join(ws, '.model-sync', 'inventory.json')) };
  }

  /** `step` with the workspace on a tmpfs of `volumeBytes` (inside the child's own mount namespace), or on /tmp. */
  async function run(step: string, env: Record<string, string | undefined>, volumeBytes?: number): Promise<Run> {
    const ws = env.MODEL_SYNC_STORAGE_PATH!;
    if (volumeBytes === undefined) return inspect(ws, await runCli([step], env));
    await mkdir(ws, { recursive: true });
    const out = await mr.dir('ms-pf-out-');
    const termination = path.join(out, 'termination-log');
    const script = [`mount -t tmpfs -o size=${volumeBytes} tmpfs "$WS" || exit 99`, `node "$CLI" "$STEP"; code=$?`, `ls -A "$WS/model" > "$OUT/model" 2>/dev/null`, `[ -e "$WS/.model-sync/inventory.json" ] && touch "$OUT/inventory"`, 'exit $code'].join('\n');
    const child = spawn('unshare', ['-m', 'sh', '-c', script], {
      env: cleanEnv({ MODEL_SYNC_LOG_FORMAT: 'json', TERMINATION_MESSAGE_PATH: termination, WS: ws, OUT: out, CLI, STEP: step, ...env }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    return {
      code,
      stderr,
      termination: await readFile(termination, 'utf8').catch(() => ''),
      modelFiles: (await readFile(path.join(out, 'model'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
      inventory: existsSync(path.join(out, 'inventory')),
    };
  }

  /** Runs the case with `preflight` and with `all`, for update_artifact and create_model; each is refused alike. */
  async function refusedEverywhere(label: string, env: Record<string, string | undefined>, expected: { code: number; message: RegExp; volumeBytes?: number }, noDownload: (tag: string) => void) {
    for (const step of ['preflight', 'all']) {
      for (const kind of ['update_artifact', 'create_model'] as const) {
        const tag = `${label}-${step}-${kind}`;
        const reg = await intent(kind, tag);
        web.requests.length = 0;
        const ws = path.join(await mr.dir('ms-pf-'), 'ws');
        const r = await run(step, mr.env(ws, reg.metadata, kind, { ...env, ...reg.env }), expected.volumeBytes);
        // The registry and the workspace first: they are the point of a preflight that checks the path.
        await reg.unchanged();
        noDownload(tag);
        assert.deepEqual(r.modelFiles, [], `${tag}: nothing in model/`);
        assert.equal(r.inventory, false, `${tag}: no inventory`);
        assert.equal(r.code, expected.code, `${tag}: ${r.stderr.slice(-3000)}`);
        assert.match(r.termination, expected.message, tag);
        assert.doesNotMatch(r.termination, /marked|ABANDONED/, `${tag}: the registry was not settled (never touched)`);
      }
    }
  }

  const noWebGet = (file: string) => (tag: string) =>
    assert.deepEqual(
      web.requests.filter((q) => q.method === 'GET' && q.path === file),
      [],
      `${tag}: no GET of ${file}`,
    );

  it('a wrong registry password: exit 4 naming the destination credentials', async () => {
    await refusedEverywhere(
      'oci-password',
      pathEnv({ MODEL_SYNC_DESTINATION_OCI_PASSWORD: 'wrong-password' }),
      { code: EXIT.auth, message: /^cannot push .*granite:1: registry 127\.0\.0\.1:\d+ refused .*; check --destination-oci-username \/ MODEL_SYNC_DESTINATION_OCI_USERNAME and --destination-oci-password \/ MODEL_SYNC_DESTINATION_OCI_PASSWORD, or --destination-oci-credentials-path/ },
      noWebGet('/model.bin'),
    );
  });

  it('a wrong S3 secret of the destination (RGW): exit 4 naming the secret setting', async () => {
    await refusedEverywhere(
      's3-secret',
      pathEnv(s3Destination({ MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: 'wrong-secret-0123456789' })),
      { code: EXIT.auth, message: /^writing to s3:\/\/models\/pushed\/granite: access refused \(SignatureDoesNotMatch\): the secret access key does not match the access key id; check --destination-aws-secret-access-key \/ MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY$/ },
      noWebGet('/model.bin'),
    );
    assert.deepEqual(await s3.listMultipartUploads(s3.bucket), [], 'no multipart upload was started');
  });

  it('a wrong S3 secret of the source (RGW): exit 4 naming the source secret setting', async () => {
    const ws = path.join(await mr.dir('ms-pf-'), 'ws');
    const reg = await intent('update_artifact', 'src-secret');
    const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv({ ...s3Source('models/granite'), MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: 'wrong-secret-0123456789' }), ...reg.env }));
    await reg.unchanged();
    assert.equal(r.code, EXIT.auth, r.stderr);
    assert.match(r.termination, /access refused \(SignatureDoesNotMatch\).*check --source-aws-secret-access-key \/ MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY$/);
    assert.doesNotMatch(r.termination + r.stderr, /wrong-secret-0123456789/, 'the secret is never printed');
  });

  it('a missing source object: exit 5 naming the source bucket and key', async () => {
    await refusedEverywhere(
      'missing-object',
      pathEnv(s3Source('models/no-such-model')),
      { code: EXIT.notFound, message: /^s3:\/\/models\/models\/no-such-model: no object with this key and no objects under .*; check --source-aws-bucket \/ MODEL_SYNC_SOURCE_AWS_BUCKET and --source-aws-key \/ MODEL_SYNC_SOURCE_AWS_KEY$/ },
      () => undefined,
    );
  });

  it('a too-small volume: exit 8 with the bytes needed (model, base image and margin) and free', { skip: noVolume() }, async () => {
    await refusedEverywhere(
      'volume',
      pathEnv({ MODEL_SYNC_SOURCE_URI: `${web.url}/big.bin` }),
      { code: EXIT.noSpace, message: /^not enough space for this download in .*ws \(--storage-path \/ MODEL_SYNC_STORAGE_PATH\): \d+ bytes needed, \d+ bytes free; give the workspace volume more space/, volumeBytes: 32 * MiB },
      noWebGet('/big.bin'),
    );
  });

  it('the bytes needed are the listed size plus the margin, checked before the destination is asked', { skip: noVolume() }, async () => {
    const ws = path.join(await mr.dir('ms-pf-'), 'ws');
    const reg = await intent('update_artifact', 'volume-bytes');
    const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv({ MODEL_SYNC_SOURCE_URI: `${web.url}/big.bin`, MODEL_SYNC_DESTINATION_OCI_URI: '127.0.0.1:9/nowhere/x:1' }), ...reg.env }), 32 * MiB);
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    assert.equal(Number(/(\d+) bytes needed/.exec(r.termination)?.[1]), withMargin(40 * MiB), 'the Content-Length plus the margin');
    assert.equal(withMargin(40 * MiB), 40 * MiB + 64 * MiB, 'the margin is 64 MiB at least');
    assert.equal(withMargin(10_000 * MiB), 10_500 * MiB, 'and 5% of a large model');
  });

  it('a missing repository bucket: exit 5 naming the destination bucket', async () => {
    const ws = path.join(await mr.dir('ms-pf-'), 'ws');
    const reg = await intent('update_artifact', 'bucket');
    const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv(s3Destination({ MODEL_SYNC_DESTINATION_AWS_BUCKET: 'no-such-bucket' })), ...reg.env }));
    assert.equal(r.code, EXIT.notFound, r.stderr);
    assert.match(r.termination, /bucket "no-such-bucket" does not exist; check --destination-aws-bucket \/ MODEL_SYNC_DESTINATION_AWS_BUCKET and --destination-aws-key/);
    await reg.unchanged();
  });

  it('a missing base image: exit 5 naming the base image setting', async () => {
    const ws = path.join(await mr.dir('ms-pf-'), 'ws');
    const reg = await intent('update_artifact', 'base');
    const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv({ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${registry.host}/library/no-such-base:1` }), ...reg.env }));
    assert.equal(r.code, EXIT.notFound, r.stderr);
    assert.match(r.termination, /^base image 127\.0\.0\.1:\d+\/library\/no-such-base:1: .*not found.*; check --destination-oci-base-image \/ MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE$/);
    await reg.unchanged();
  });

  it('a valid path passes: the probes read no model body and leave no upload session, blob or object', async () => {
    const uploads = path.join(registry.storageDir, 'docker/registry/v2/repositories/models/granite/_uploads');
    const blobs = path.join(registry.storageDir, 'docker/registry/v2/blobs');
    for (const [label, env] of [
      ['oci', pathEnv()],
      ['s3', pathEnv(s3Destination())],
      ['s3 source', pathEnv(s3Source('models/granite'))],
    ] as const) {
      web.requests.length = 0;
      const reg = await intent('update_artifact', `ok-${label}`);
      const ws = path.join(await mr.dir('ms-pf-'), 'ws');
      const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...env, ...reg.env }));
      assert.equal(r.code, 0, `${label}: ${r.stderr}`);
      assert.equal((await mr.client.getModelArtifact(reg.env.MODEL_SYNC_MODEL_ARTIFACT_ID!))!.state, 'PENDING', `${label}: preflight went on to the registry`);
      assert.deepEqual(r.modelFiles, []);
      const room = logLines(r.stderr).filter((l) => l.msg === 'preflight: checking the workspace has room');
      const last = room.at(-1)!;
      if (label !== 's3') assert.ok(Number(last.base) > 0, `${label}: the base image is counted: ${JSON.stringify(room)}`);
      assert.equal(last.model, model.length, `${label}: the listed size`);
      assert.equal(last.needed, withMargin(model.length + Number(last.base)), `${label}: model + base + margin`);
      assert.deepEqual(
        web.requests.filter((q) => q.method !== 'HEAD').map((q) => `${q.method} ${q.path}`),
        [],
        `${label}: the http source was asked only with HEAD`,
      );
    }
    // distribution's cancel removes a session's data and start time (a GET of it answers 404) and
    // leaves only its empty-hash state file behind.
    const sessionFiles = ((await readdir(uploads, { recursive: true }).catch(() => [])) as string[]).filter((f) => /(^|\/)(data|startedat)$/.test(f));
    assert.ok(existsSync(uploads), 'upload sessions were opened');
    assert.deepEqual(sessionFiles, [], 'every upload session was cancelled');
    assert.equal(existsSync(blobs), false, 'no blob was written');
    const left = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'pushed/' }));
    assert.deepEqual(left.Contents ?? [], [], 'no object under the S3 destination prefix');
    assert.deepEqual(await s3.listMultipartUploads(s3.bucket, 'pushed/'), [], 'the test multipart upload was aborted');
  });

  it('a re-run after a complete fetch asks no room for the files fetch will skip', async () => {
    for (const [label, env] of [
      ['http', pathEnv()],
      ['s3', pathEnv(s3Source('models/granite'))],
    ] as const) {
      const ws = path.join(await mr.dir('ms-pf-'), 'ws');
      const reg = await intent('update_artifact', `rerun-${label}`);
      const e = mr.env(ws, undefined, 'update_artifact', { ...env, ...reg.env });
      const fetched = await runCli(['fetch'], e);
      assert.equal(fetched.code, 0, fetched.stderr);
      const r = await runCli(['preflight'], e);
      assert.equal(r.code, 0, r.stderr);
      const room = logLines(r.stderr).filter((l) => l.msg === 'preflight: checking the workspace has room');
      assert.deepEqual(room.map((l) => l.model), [0, 0], `${label}: the model is complete in model/ already`);
    }
  });

  it('Hugging Face: private without a token and gated with a token that has no access are exit 4; a missing model exit 5; the listed sizes are counted', async () => {
    const weights = Buffer.alloc(3 * MiB, 1);
    serveHfRepo(web, 'acme/private', 'main', [{ path: 'model.safetensors', body: weights, lfs: true }, { path: 'config.json', body: Buffer.from('{}') }], { token: 'hf_good' });
    // Gated: the Hub lists the files to anyone; only a token that accepted the terms may download.
    web.routes.set('/api/models/acme/gated/revision/main', { body: JSON.stringify({ id: 'acme/gated', sha: 'abc', gated: 'auto', siblings: [{ rfilename: 'w.bin', size: 5 }] }), contentType: 'application/json' });
    web.routes.set('/acme/gated/resolve/abc/w.bin', { body: 'weights', authorization: 'Bearer hf_good' });
    const probe = async (uri: string, extra: Record<string, string> = {}) => {
      const ws = path.join(await mr.dir('ms-pf-'), 'ws');
      const reg = await intent('update_artifact', `hf-${uri.slice(5).replace('/', '-')}-${Object.keys(extra).length}`);
      const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv({ MODEL_SYNC_SOURCE_URI: uri, HF_ENDPOINT: web.url, ...extra }), ...reg.env }));
      if (r.code !== 0) await reg.unchanged();
      return r;
    };
    const noToken = await probe('hf://acme/private');
    assert.equal(noToken.code, EXIT.auth, noToken.stderr);
    assert.match(noToken.termination, /^Hugging Face model acme\/private revision main at .*: access refused \(HTTP 401\); set HF_TOKEN for private or gated models/);
    const gated = await probe('hf://acme/gated', { HF_TOKEN: 'hf_wrong' });
    assert.equal(gated.code, EXIT.auth, gated.stderr);
    assert.match(gated.termination, /acme\/gated .*access refused \(HTTP 401\); the token in HF_TOKEN has no access to this model/);
    assert.doesNotMatch(gated.termination + gated.stderr, /hf_wrong/, 'the token is never printed');
    const gatedNoToken = await probe('hf://acme/gated');
    assert.equal(gatedNoToken.code, EXIT.auth, gatedNoToken.stderr);
    const missing = await probe('hf://acme/unknown');
    assert.equal(missing.code, EXIT.notFound, missing.stderr);
    assert.match(missing.termination, /acme\/unknown revision main .*not found; check --source-uri \/ MODEL_SYNC_SOURCE_URI$/);
    const ok = await probe('hf://acme/private', { HF_TOKEN: 'hf_good' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(logLines(ok.stderr).find((l) => l.msg === 'preflight: checking the workspace has room')?.model, weights.length + 2);
  });

  it('OCI source: the manifest is read with the source credentials; a wrong password is exit 4, a missing tag exit 5, each naming its setting', async () => {
    const image = `${registry.host}/library/base:1`;
    await promisify(execFile)('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${registry.username}:${registry.password}`, baseImage, `docker://${image}`]);
    const probe = async (label: string, extra: Record<string, string | undefined>) => {
      const ws = path.join(await mr.dir('ms-pf-'), 'ws');
      const reg = await intent('update_artifact', `oci-src-${label}`);
      const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv({ MODEL_SYNC_SOURCE_TYPE: 'oci', MODEL_SYNC_SOURCE_OCI_URI: image, MODEL_SYNC_SOURCE_OCI_USERNAME: registry.username, MODEL_SYNC_SOURCE_OCI_PASSWORD: registry.password, ...extra }), ...reg.env }));
      if (r.code !== 0) await reg.unchanged();
      return r;
    };
    const wrong = await probe('wrong', { MODEL_SYNC_SOURCE_OCI_PASSWORD: 'nope' });
    assert.equal(wrong.code, EXIT.auth, wrong.stderr);
    assert.match(wrong.termination, /^cannot fetch .*library\/base:1: .*; check --source-oci-username \/ MODEL_SYNC_SOURCE_OCI_USERNAME and --source-oci-password \/ MODEL_SYNC_SOURCE_OCI_PASSWORD, or --source-oci-credentials-path/);
    const missing = await probe('missing', { MODEL_SYNC_SOURCE_OCI_URI: `${registry.host}/library/base:no-such-tag` });
    assert.equal(missing.code, EXIT.notFound, missing.stderr);
    assert.match(missing.termination, /not found .*; check --source-oci-uri \/ MODEL_SYNC_SOURCE_OCI_URI$/);
    const ok = await probe('ok', {});
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(logLines(ok.stderr).find((l) => l.msg === 'preflight: checking the workspace has room')?.model, 1024, "the layer's size");
  });

  it('an http source that refuses HEAD is probed with a ranged GET of its first byte', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.headers.range ?? ''}`.trim());
      if (req.method === 'HEAD') return void res.writeHead(405).end();
      res.writeHead(206, { 'content-range': `bytes 0-0/${model.length}`, 'content-length': '1' }).end(model.subarray(0, 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const ws = path.join(await mr.dir('ms-pf-'), 'ws');
      const reg = await intent('update_artifact', 'ranged');
      const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.bin`;
      const r = await run('preflight', mr.env(ws, undefined, 'update_artifact', { ...pathEnv({ MODEL_SYNC_SOURCE_URI: uri, MODEL_SYNC_LOG_LEVEL: 'debug' }), ...reg.env }));
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(seen, ['HEAD', 'GET bytes=0-0']);
      assert.match(r.stderr, new RegExp(`"bytes":${model.length}.*"msg":"preflight: the source is readable"`), 'the size comes from Content-Range');
    } finally {
      server.close();
    }
  });
  it('a malformed metadata ConfigMap is exit 2 before any probe: no request reaches the source or the registry', async () => {
    web.requests.length = 0;
    const uploadsBefore = (await readdir(registry.storageDir, { recursive: true }).catch(() => [] as string[])).length;
    const ws = path.join(await mr.dir('ms-pf-'), 'ws');
    const metadata = await mr.meta({ 'RegisteredModel.name': 'pf-bad-metadata', 'RegisteredModel.customProperties': '{not json' });
    const r = await run('preflight', mr.env(ws, metadata, 'create_model', pathEnv()));
    assert.equal(r.code, EXIT.config, r.stderr);
    assert.match(r.termination, /customProperties.*is not valid JSON/);
    assert.deepEqual(web.requests, [], 'the source was not probed');
    assert.equal((await readdir(registry.storageDir, { recursive: true }).catch(() => [] as string[])).length, uploadsBefore, 'no upload session was opened');
  });
});
