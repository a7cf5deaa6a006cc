// SIGTERM and SIGKILL in the middle of a multipart upload to a real S3 (RGW, dev/rgw.ts), which
// lists and aborts multipart uploads: a push stopped by SIGTERM aborts its upload before it exits
// 143; one killed outright leaves it, recorded in s3-uploads.json, and the next push aborts it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { runCli, runCliSignalled, tempDir } from '../dev/cli.js';
import { RGW_ACCESS_KEY, RGW_SECRET_KEY } from '../dev/rgw.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { useRgw } from './support/rgw.js';

const rgw = useRgw();
let slow: FaultProxy;
let dir: string;
let source: string;
/** Above the 16 MiB part size: two parts. */
const big = randomBytes(24 * 1024 * 1024 + 5);

before(async () => {
  const s3 = await rgw.ready;
  slow = await startFaultProxy(s3.endpoint);
  dir = await tempDir('ms-sigterm-s3-');
  source = path.join(dir, 'source');
  await mkdir(path.join(source, 'weights'), { recursive: true });
  await writeFile(path.join(source, 'config.json'), '{"x":1}');
  await writeFile(path.join(source, 'weights/big.bin'), big);
});

after(async () => {
  await slow?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A workspace fetch has filled with the model (config.json, weights/big.bin). */
async function fetched(name: string): Promise<string> {
  const ws = path.join(dir, name);
  const r = await runCli(['fetch'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `file://${source}` });
  assert.equal(r.code, 0, r.stderr);
  return ws;
}

/** push to s3://models/<prefix> through the slow proxy. */
function pushEnv(ws: string, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_DESTINATION_TYPE: 's3',
    MODEL_SYNC_DESTINATION_AWS_BUCKET: rgw().bucket,
    MODEL_SYNC_DESTINATION_AWS_KEY: prefix,
    MODEL_SYNC_DESTINATION_AWS_ENDPOINT: slow.url,
    MODEL_SYNC_DESTINATION_AWS_REGION: 'us-east-1',
    MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: RGW_ACCESS_KEY,
    MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: RGW_SECRET_KEY,
    ...extra,
  };
}

/** Parts of the big file hang in the proxy: the multipart upload is open, its parts in flight. */
function slowParts(prefix: string): () => boolean {
  const partPath = `/${rgw().bucket}/${prefix}/weights/big.bin`;
  slow.rules.push({ method: 'PUT', path: partPath, delayMs: 15_000, times: 100 });
  const seen = slow.requests.length;
  return () => slow.requests.slice(seen).some((r) => r.method === 'PUT' && r.path === partPath && r.url.includes('uploadId='));
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  return readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => undefined);
}

test('push stopped by SIGTERM mid-multipart: the upload is aborted (none left under the prefix), exit 143 within the grace period', async () => {
  const ws = await fetched('term');
  const inFlight = slowParts('stopped');
  const stopped = await runCliSignalled(['push'], pushEnv(ws, 'stopped', { MODEL_SYNC_TERMINATION_GRACE_PERIOD: '10' }), { signal: 'SIGTERM', when: inFlight });
  slow.rules.length = 0;
  assert.equal(stopped.code, 143, stopped.stderr);
  assert.ok(stopped.msAfterSignal < 10_000, `exited ${stopped.msAfterSignal} ms after SIGTERM, past the 10 s grace period`);
  assert.match(stopped.termination, /^push stopped by SIGTERM after [\d.]+ s: aborted the multipart upload of s3:\/\/models\/stopped\/weights\/big\.bin \(upload id [^)]+\)$/);
  assert.deepEqual(await rgw().listMultipartUploads(rgw().bucket, 'stopped/'), []);
  assert.equal(await readJson(path.join(ws, '.model-sync/s3-uploads.json')), undefined, 'nothing left to record');
});

test('push killed mid-multipart (SIGKILL) leaves the upload recorded; the next push aborts it and completes', async () => {
  const ws = await fetched('kill');
  const inFlight = slowParts('killed');
  const killed = await runCliSignalled(['push'], pushEnv(ws, 'killed'), { signal: 'SIGKILL', when: inFlight });
  slow.rules.length = 0;
  assert.equal(killed.killedBy, 'SIGKILL');
  const left = await rgw().listMultipartUploads(rgw().bucket, 'killed/');
  assert.equal(left.length, 1, 'the killed push left its multipart upload open');
  const record = await readJson(path.join(ws, '.model-sync/s3-uploads.json'));
  assert.deepEqual(
    (record?.uploads as Array<Record<string, unknown>> | undefined)?.map((u) => ({ bucket: u.bucket, key: u.key, uploadId: u.uploadId })),
    [{ bucket: rgw().bucket, key: 'killed/weights/big.bin', uploadId: left[0]!.uploadId }],
    'and recorded it before its first part',
  );

  const again = await runCli(['push'], pushEnv(ws, 'killed'));
  assert.equal(again.code, 0, again.stderr);
  const aborted = again.stderr.split('\n').filter((l) => l.includes('aborted a multipart upload an earlier push left open'));
  assert.equal(aborted.length, 1, again.stderr);
  assert.ok(aborted[0]!.includes(left[0]!.uploadId), 'the log names the upload it aborted');
  assert.deepEqual(await rgw().listMultipartUploads(rgw().bucket, 'killed/'), []);
  const head = await rgw().client.send(new HeadObjectCommand({ Bucket: rgw().bucket, Key: 'killed/weights/big.bin' }));
  assert.equal(head.ContentLength, big.length);
  assert.equal(await readJson(path.join(ws, '.model-sync/s3-uploads.json')), undefined);
});

test('the next push aborts an open upload of one of its keys even without a record (killed before writing it), and no other', async () => {
  const ws = await fetched('norecord');
  const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
  const s3 = rgw();
  const mine = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'norecord/weights/big.bin' }));
  const other = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'norecord/another-model.bin' }));
  const r = await runCli(['push'], pushEnv(ws, 'norecord'));
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(mine.UploadId!), 'the log names the upload it aborted');
  assert.deepEqual(
    (await s3.listMultipartUploads(s3.bucket, 'norecord/')).map((u) => u.uploadId),
    [other.UploadId],
    'an upload of a key this push does not write is not its to abort',
  );
});
