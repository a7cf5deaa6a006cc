// Known secret values given to fetch (and push to S3) at --log-level debug, in runs that succeed
// and runs that fail, must not appear in stdout, stderr or the termination message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir, type CliResult } from '../dev/cli.js';
import { startS3Server, S3RVER_KEY, type S3Server } from '../dev/s3-server.js';
import { serveHfRepo, startHttpServer, type TestHttpServer } from './support/http-server.js';

const SECRET_KEY_ENV = 'envSECRETaccessKEY/0123456789+abcdefghij';
const SECRET_KEY_FILE = 'fileSECRETaccessKEY/9876543210+zyxwvutsrq';
const WRONG_KEY_ID = 'AKIAFAILINGKEYID0001';
const URL_PASSWORD = 'p4ss-w0rd-in-the-url';
const URL_TOKEN = 'tok-QUERY-secret-0123456789';
const HF_TOKEN = 'hf_secretHUBtoken0123456789';
const ALL = [SECRET_KEY_ENV, SECRET_KEY_FILE, WRONG_KEY_ID, URL_PASSWORD, URL_TOKEN, HF_TOKEN, `bob:${URL_PASSWORD}`, Buffer.from(`bob:${URL_PASSWORD}`).toString('base64')];

let s3: S3Server;
let web: TestHttpServer;
let dir: string;

before(async () => {
  s3 = await startS3Server('models');
  await s3.put('m/config.json', '{}');
  web = await startHttpServer();
  web.routes.set('/private/model.bin', { body: 'weights', authorization: `Basic ${Buffer.from(`bob:${URL_PASSWORD}`).toString('base64')}` });
  serveHfRepo(web, 'acme/gated', 'main', [{ path: 'a.txt', body: Buffer.from('a') }], { token: HF_TOKEN });
  dir = await tempDir('ms-secrets-');
});

after(async () => {
  await s3?.stop();
  await web?.stop();
  await rm(dir, { recursive: true, force: true });
});

function assertNoSecrets(r: CliResult, label: string): void {
  assert.ok(r.stderr.length > 0, `${label}: there is log output to search`);
  for (const secret of ALL) {
    for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr], ['termination', r.termination]] as const) {
      assert.ok(!text.includes(secret), `${label}: ${where} contains a secret (${secret.slice(0, 6)}...)`);
    }
  }
}

let n = 0;
const ws = () => path.join(dir, `ws${n++}`);

const s3Env = (extra: Record<string, string>) => ({
  MODEL_SYNC_STORAGE_PATH: ws(),
  MODEL_SYNC_LOG_LEVEL: 'debug',
  MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
  MODEL_SYNC_SOURCE_AWS_KEY: 'm',
  MODEL_SYNC_SOURCE_AWS_ENDPOINT: s3.endpoint,
  ...extra,
});

test('S3 keys from env and from a credentials folder never appear, in success and failure', async () => {
  const ok = await runCli(['fetch'], s3Env({ MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY, MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: SECRET_KEY_ENV }));
  assert.equal(ok.code, 0, ok.stderr);
  assertNoSecrets(ok, 'env keys');

  const creds = path.join(dir, 'creds');
  await mkdir(creds);
  await writeFile(path.join(creds, 'AWS_ACCESS_KEY_ID'), `${S3RVER_KEY}\n`);
  await writeFile(path.join(creds, 'AWS_SECRET_ACCESS_KEY'), `${SECRET_KEY_FILE}\n`);
  const fromFolder = await runCli(['fetch'], s3Env({ MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH: creds }));
  assert.equal(fromFolder.code, 0, fromFolder.stderr);
  assertNoSecrets(fromFolder, 'folder keys');

  const failing = await runCli(['fetch'], s3Env({ MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: WRONG_KEY_ID, MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: SECRET_KEY_ENV }));
  assert.equal(failing.code, EXIT.auth, failing.stderr);
  assertNoSecrets(failing, 'rejected keys');
});

test('user:password and a token query parameter of a source URL never appear', async () => {
  const host = web.url.slice('http://'.length);
  const ok = await runCli(['fetch'], {
    MODEL_SYNC_STORAGE_PATH: ws(),
    MODEL_SYNC_LOG_LEVEL: 'debug',
    MODEL_SYNC_SOURCE_TYPE: 'uri',
    MODEL_SYNC_SOURCE_URI: `http://bob:${URL_PASSWORD}@${host}/private/model.bin?token=${URL_TOKEN}&download=1`,
  });
  assert.equal(ok.code, 0, ok.stderr);
  assertNoSecrets(ok, 'url credentials');

  const failing = await runCli(['fetch'], {
    MODEL_SYNC_STORAGE_PATH: ws(),
    MODEL_SYNC_LOG_LEVEL: 'debug',
    MODEL_SYNC_SOURCE_TYPE: 'uri',
    MODEL_SYNC_SOURCE_URI: `http://bob:${URL_PASSWORD}@${host}/missing/model.bin?token=${URL_TOKEN}`,
  });
  assert.equal(failing.code, EXIT.notFound, failing.stderr);
  assertNoSecrets(failing, 'url credentials, failing');
  assert.match(failing.termination, /\/missing\/model\.bin/, 'the URL is still named, without its secrets');
});

test('HF_TOKEN never appears', async () => {
  for (const [repo, code] of [['acme/gated', 0], ['acme/absent', EXIT.notFound]] as const) {
    const r = await runCli(['fetch'], {
      MODEL_SYNC_STORAGE_PATH: ws(),
      MODEL_SYNC_LOG_LEVEL: 'debug',
      MODEL_SYNC_SOURCE_TYPE: 'uri',
      MODEL_SYNC_SOURCE_URI: `hf://${repo}`,
      HF_ENDPOINT: web.url,
      HF_TOKEN,
    });
    assert.equal(r.code, code, r.stderr);
    assertNoSecrets(r, repo);
  }
});

test('push to S3: destination keys never appear', async (t) => {
  const storage = ws();
  const fetched = await runCli(['fetch'], { ...s3Env({ MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY, MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: SECRET_KEY_ENV }), MODEL_SYNC_STORAGE_PATH: storage });
  assert.equal(fetched.code, 0, fetched.stderr);
  const push = (keyId: string) =>
    runCli(['push'], {
      MODEL_SYNC_STORAGE_PATH: storage,
      MODEL_SYNC_LOG_LEVEL: 'debug',
      MODEL_SYNC_DESTINATION_TYPE: 's3',
      MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_DESTINATION_AWS_KEY: 'pushed',
      MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
      MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: keyId,
      MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: SECRET_KEY_ENV,
    });
  const ok = await push(S3RVER_KEY);
  if (ok.code === EXIT.internal && /step push is not implemented yet/.test(ok.termination)) {
    t.skip('runPush (src/steps/push.ts) does not dispatch to pushToS3 yet');
    return;
  }
  assert.equal(ok.code, 0, ok.stderr);
  assertNoSecrets(ok, 'push');
  const failing = await push(WRONG_KEY_ID);
  assert.equal(failing.code, EXIT.auth, failing.stderr);
  assertNoSecrets(failing, 'push, failing');
});
