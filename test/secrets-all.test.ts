// Secrets never reach output: a whole `all` job with every kind of secret at once (S3 secret key,
// registry password against a Basic-auth registry, Model Registry bearer token), at debug log level,
// once succeeding and once failing on a rejected password. Every byte of stdout, stderr and the
// termination message is searched for the values and their base64 forms.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir, type CliResult } from '../dev/cli.js';
import { metadataFolder, registryEnv } from './support/model-registry.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { startS3Server, S3RVER_KEY, type S3Server } from '../dev/s3-server.js';

const run = promisify(execFile);
const S3_SECRET = 's3-Secret-Value-4455'; // s3rver checks the key id, not the secret
const REGISTRY_USER = 'pusher';
const REGISTRY_PASSWORD = 'Reg1stry-Pa55-7781';
const WRONG_PASSWORD = 'Wr0ng-Pa55-9911';
const MR_TOKEN = 'mr-token-Z9q8w7e6r5';

function forms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), Buffer.from(`${REGISTRY_USER}:${secret}`).toString('base64')];
}

function assertNoSecrets(r: CliResult, secrets: string[]): void {
  const all = `${r.stdout}\n${r.stderr}\n${r.termination}`;
  for (const s of secrets.flatMap(forms)) assert.equal(all.includes(s), false, `secret "${s}" leaked:\n${all}`);
}

const skip = !registryAvailable()
  ? 'docker-registry is not installed'
  : spawnSync('skopeo', ['--version'], { stdio: 'ignore' }).status !== 0
    ? 'skopeo is not installed'
    : !existsSync('/bin/busybox')
      ? 'busybox-static is not installed'
      : false;

describe('all: no secret in any output', { skip }, () => {
  let s3: S3Server;
  let registry: TestRegistry;
  let standin: Standin;

  before(async () => {
    [s3, registry, standin] = await Promise.all([
      startS3Server('models'),
      startRegistry({ mode: 'htpasswd', username: REGISTRY_USER, password: REGISTRY_PASSWORD }),
      startStandin(),
    ]);
    standin.state.requiredToken = MR_TOKEN;
    await s3.put('m/model.bin', Buffer.alloc(200_000, 3));
    await s3.put('m/config.json', '{"a":1}');
    const base = await buildBusyboxBase(path.join(await tempDir('ms-base-'), 'layout'));
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `--dest-creds=${REGISTRY_USER}:${REGISTRY_PASSWORD}`, `oci:${base.dir}:latest`, `docker://${registry.host}/library/busybox:latest`]);
  });
  after(async () => {
    await Promise.all([s3?.stop(), registry?.stop(), standin?.stop()]);
  });

  async function job(modelName: string, password: string): Promise<CliResult> {
    const metadata = await metadataFolder({ 'RegisteredModel.name': modelName, 'ModelVersion.name': '1', 'ModelArtifact.name': modelName });
    return runCli(['all', '--log-level', 'debug'], registryEnv(standin, {
      MODEL_SYNC_STORAGE_PATH: await tempDir('ms-ws-'),
      MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_SOURCE_AWS_KEY: 'm',
      MODEL_SYNC_SOURCE_AWS_ENDPOINT: s3.endpoint,
      MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY,
      MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3_SECRET,
      MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/${modelName}:1`,
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: `${registry.host}/library/busybox:latest`,
      MODEL_SYNC_DESTINATION_OCI_USERNAME: REGISTRY_USER,
      MODEL_SYNC_DESTINATION_OCI_PASSWORD: password,
      MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
      MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
      MODEL_SYNC_REGISTRY_USER_TOKEN: MR_TOKEN,
    }));
  }

  it('a successful job prints no secret', async () => {
    const r = await job('secret-ok', REGISTRY_PASSWORD);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.termination, /"ModelArtifact"/);
    assert.match(r.stderr, /"level":"debug"/, 'debug lines were written, and searched');
    assertNoSecrets(r, [S3_SECRET, REGISTRY_PASSWORD, MR_TOKEN]);
  });

  it('a job failing on a rejected password prints no secret', async () => {
    const r = await job('secret-fail', WRONG_PASSWORD);
    assert.equal(r.code, EXIT.auth, r.stderr);
    assert.match(r.termination, /127\.0\.0\.1:\d+/, 'the cause names the registry');
    assertNoSecrets(r, [S3_SECRET, WRONG_PASSWORD, REGISTRY_PASSWORD, MR_TOKEN]);
  });
});
