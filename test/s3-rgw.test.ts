// What only a real S3 shows (Ceph's RADOS Gateway, dev/rgw.ts), through the built CLI: a wrong
// secret is refused (SigV4) with a message naming the setting, and a multipart push that fails
// mid-way aborts its upload, so no incomplete multipart upload is left behind.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { EXIT } from '../src/errors.js';
import { UPLOAD_PART_SIZE } from '../src/s3/upload.js';
import { runCli, tempDir, type CliResult } from '../dev/cli.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { listAll } from './support/fetch-helpers.js';
import { useRgw } from './support/rgw.js';
import { s3FetchEnv } from './support/s3-fetch-env.js';

const rgw = useRgw({ buckets: ['models', 'capped'] });
const WRONG_SECRET = `wrong-${randomBytes(12).toString('hex')}`;
// Above the part size: a multipart upload of two parts (16 MiB and 1 MiB + 99 bytes).
const big = randomBytes(UPLOAD_PART_SIZE + 1024 * 1024 + 99);
let dir: string;
/** A workspace holding the fetched model (config.json, weights/big.bin), ready to push. */
let ws: string;
let proxy: FaultProxy;

before(async () => {
  await rgw.ready;
  dir = await tempDir('ms-s3-rgw-');
  await rgw().put('source/config.json', '{"model_type":"test"}');
  await rgw().put('source/weights/big.bin', big);
  ws = path.join(dir, 'ws');
  const fetched = await runCli(['fetch'], s3FetchEnv(rgw().bucket, rgw().endpoint, ws, 'source', {}, rgw()));
  assert.equal(fetched.code, 0, fetched.stderr);
  proxy = await startFaultProxy(rgw().endpoint);
});

after(async () => {
  await proxy?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function pushEnv(bucket: string, key: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_DESTINATION_TYPE: 's3',
    MODEL_SYNC_DESTINATION_AWS_BUCKET: bucket,
    MODEL_SYNC_DESTINATION_AWS_KEY: key,
    MODEL_SYNC_DESTINATION_AWS_ENDPOINT: rgw().endpoint,
    MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: rgw().accessKey,
    MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: rgw().secretKey,
    ...extra,
  };
}

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const list = await rgw().client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (list.Contents ?? []).map((o) => o.Key ?? '');
}

function assertSecretNotShown(r: CliResult): void {
  for (const [name, text] of Object.entries({ stdout: r.stdout, stderr: r.stderr, termination: r.termination })) {
    assert.ok(!text.includes(WRONG_SECRET), `the secret appears in ${name}`);
  }
}

test('fetch with the right access key and a wrong secret: exit 4, one line naming the secret setting, the secret never shown, nothing downloaded', async () => {
  const fresh = path.join(dir, 'wrong-secret-fetch');
  const r = await runCli(['fetch'], s3FetchEnv(rgw().bucket, rgw().endpoint, path.join(fresh, 'ws'), 'source', { MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: WRONG_SECRET }, rgw()));
  assert.equal(r.code, EXIT.auth, r.stderr);
  assert.equal(r.termination.trim().split('\n').length, 1, r.termination);
  assert.match(r.termination, /s3:\/\/models\/source\/: access refused \(SignatureDoesNotMatch\)/);
  assert.match(r.termination, /--source-aws-secret-access-key \/ MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY/);
  assertSecretNotShown(r);
  assert.deepEqual((await listAll(fresh)).filter((f) => f.includes('model/')), [], 'nothing downloaded');
});

test('push with the right access key and a wrong secret: exit 4, one line naming the secret setting, the secret never shown, nothing written', async () => {
  const r = await runCli(['push'], pushEnv(rgw().bucket, 'wrong-secret', { MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: WRONG_SECRET }));
  assert.equal(r.code, EXIT.auth, r.stderr);
  assert.equal(r.termination.trim().split('\n').length, 1, r.termination);
  assert.match(r.termination, /s3:\/\/models\/wrong-secret\/\S+: access refused \(HTTP 403\)/);
  assert.match(r.termination, /--destination-aws-secret-access-key \/ MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY/);
  assertSecretNotShown(r);
  assert.deepEqual(await keysUnder(rgw().bucket, 'wrong-secret/'), []);
  assert.deepEqual(await rgw().listMultipartUploads(rgw().bucket, 'wrong-secret/'), []);
});

test('a multipart push refused by the bucket quota (QuotaExceeded) fails with exit 8, a clear error, and leaves no incomplete multipart upload', async () => {
  // Below one part: RGW refuses the first 16 MiB part, after the upload was created.
  await rgw().admin(['quota', 'set', '--quota-scope=bucket', '--bucket=capped', '--max-size=8M']);
  await rgw().admin(['quota', 'enable', '--quota-scope=bucket', '--bucket=capped']);
  proxy.requests.length = 0;
  const r = await runCli(['push'], pushEnv('capped', 'quota', { MODEL_SYNC_DESTINATION_AWS_ENDPOINT: proxy.url }));
  assert.equal(r.code, EXIT.noSpace, r.stderr);
  assert.equal(r.termination.trim().split('\n').length, 1, r.termination);
  assert.match(r.termination, /^uploading s3:\/\/capped\/quota\/weights\/big\.bin: the bucket's or its owner's storage quota is exceeded \(QuotaExceeded\)/);
  assert.ok(proxy.requests.some((q) => q.method === 'POST' && q.path === '/capped/quota/weights/big.bin' && /[?&]uploads\b/.test(q.url)), 'a multipart upload was created');
  assert.ok(proxy.requests.some((q) => q.method === 'DELETE' && /[?&]uploadId=/.test(q.url)), 'and aborted');
  assert.deepEqual(await rgw().listMultipartUploads('capped'), [], 'no incomplete multipart upload left');
  assert.deepEqual(await keysUnder('capped', 'quota/weights/'), [], 'no big.bin object');
});

test('a multipart push whose part is cut on every attempt fails with a clear error and leaves no incomplete multipart upload', async () => {
  proxy.requests.length = 0;
  proxy.rules.length = 0;
  // The first part PUT passes (stored on RGW), every attempt of the other is cut after 1 MiB.
  proxy.rules.push({ method: 'PUT', path: '/models/cut/weights/big.bin', skip: 1, resetRequestAfterBytes: 1024 * 1024, times: 1000 });
  const r = await runCli(['push', '--retry-attempts', '2'], pushEnv(rgw().bucket, 'cut', { MODEL_SYNC_DESTINATION_AWS_ENDPOINT: proxy.url, MODEL_SYNC_PUSH_CONCURRENCY: '1' }));
  proxy.rules.length = 0;
  assert.equal(r.code, EXIT.transient, r.stderr);
  assert.equal(r.termination.trim().split('\n').length, 1, r.termination);
  assert.match(r.termination, /uploading s3:\/\/models\/cut\/weights\/big\.bin: /);
  const parts = proxy.requests.filter((q) => q.method === 'PUT' && q.path === '/models/cut/weights/big.bin' && /[?&]partNumber=/.test(q.url));
  assert.ok(parts.some((q) => q.status === 200), 'one part was stored before the failure');
  assert.equal(parts.filter((q) => q.fault).length, 2, 'the other part was cut on both attempts');
  assert.ok(proxy.requests.some((q) => q.method === 'DELETE' && /[?&]uploadId=/.test(q.url)), 'the upload was aborted');
  assert.deepEqual(await rgw().listMultipartUploads(rgw().bucket, 'cut/'), [], 'no incomplete multipart upload left');
  assert.deepEqual(await keysUnder(rgw().bucket, 'cut/weights/'), [], 'no big.bin object');
});
