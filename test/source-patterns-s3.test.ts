// --source-include / --source-exclude on an S3 prefix (Ceph RGW, dev/rgw.ts): fetch takes only the
// matching objects, and the streaming `all` (S3 -> S3, registered through the Model Registry
// stand-in) lists, copies and registers only those.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { before, test } from 'node:test';
import { runCli } from '../dev/cli.js';
import { decodePartPlan } from '../src/oci/part-plan.js';
import type { Rgw } from '../dev/rgw.js';
import { logLines, readTree } from './support/fetch-helpers.js';
import { useStandin } from './support/model-registry.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';

const mr = useStandin();
const rgw = useRgw();
const model: Record<string, Buffer> = {
  'config.json': Buffer.from('{"architectures":["Tiny"]}'),
  'weights/model.safetensors': randomBytes(200_000),
  'weights/pytorch_model.bin': randomBytes(50_000),
  'original/consolidated.safetensors': randomBytes(20_000),
};

let s3: Rgw;
before(async () => {
  s3 = await rgw.ready;
  for (const [name, body] of Object.entries(model)) await s3.put(`patterns/${name}`, body);
});

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
}

test('fetch of an S3 prefix with an include: only the matching objects are downloaded', async () => {
  const ws = path.join(await mr.dir('ms-patterns-s3-'), 'ws');
  const r = await runCli(['fetch'], {
    MODEL_SYNC_STORAGE_PATH: ws,
    ...rgwSourceEnv(s3, 'patterns'),
    MODEL_SYNC_SOURCE_INCLUDE: '["*.safetensors", "*.json"]',
    MODEL_SYNC_SOURCE_EXCLUDE: 'original/',
    MODEL_SYNC_LOG_LEVEL: 'debug',
  });
  assert.equal(r.code, 0, r.stderr);
  const tree = await readTree(path.join(ws, 'model'));
  assert.deepEqual([...tree.keys()].sort(), ['config.json', 'weights/model.safetensors']);
  assert.ok(tree.get('weights/model.safetensors')!.equals(model['weights/model.safetensors']!));
  const inventory = JSON.parse(await readFile(path.join(ws, '.model-sync/inventory.json'), 'utf8')) as { filtered?: { skipped: number; first: string[] } };
  assert.deepEqual(inventory.filtered, { skipped: 2, first: ['original/consolidated.safetensors', 'weights/pytorch_model.bin'] });
  const downloaded = logLines(r.stderr).filter((l) => l.msg === 'downloaded').map((l) => String(l.path)).sort();
  assert.deepEqual(downloaded, ['config.json', 'weights/model.safetensors'], 'the skipped objects were never read');
});

test('the streaming all (S3 -> S3) copies only the files the patterns keep', async () => {
  const ws = await mr.dir('ms-patterns-all-');
  const metadata = await mr.meta({ 'RegisteredModel.name': 'patterns-s3', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'patterns-s3' });
  const r = await runCli(
    ['all'],
    mr.env(ws, metadata, 'create_model', {
      ...rgwSourceEnv(s3, 'patterns'),
      MODEL_SYNC_SOURCE_EXCLUDE: '*.bin\noriginal/',
      MODEL_SYNC_DESTINATION_TYPE: 's3',
      MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_DESTINATION_AWS_KEY: 'copied/patterns',
      MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
      MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: s3.accessKey,
      MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: s3.secretKey,
    }),
    { timeoutMs: 180_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.ok(logLines(r.stderr).some((l) => typeof l.msg === 'string' && l.msg.includes('no copy of the model on the volume')), 'streamed');
  assert.deepEqual(await keysUnder('copied/patterns/'), ['config.json', 'weights/model.safetensors']);
  const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'copied/patterns/weights/model.safetensors' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(model['weights/model.safetensors']!));
});

test('plan and push --part list through the same patterns: only the kept files are planned and pushed', async () => {
  const ws = path.join(await mr.dir('ms-patterns-plan-'), 'ws');
  const env = (extra: Record<string, string>) => ({
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_RETRY_ATTEMPTS: '2',
    ...rgwSourceEnv(s3, 'patterns'),
    MODEL_SYNC_SOURCE_EXCLUDE: '["*.bin", "original/"]',
    MODEL_SYNC_DESTINATION_TYPE: 's3',
    MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
    MODEL_SYNC_DESTINATION_AWS_KEY: 'parted/patterns',
    MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
    MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: s3.accessKey,
    MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: s3.secretKey,
    ...extra,
  });
  const planned = await runCli(['plan'], env({ MODEL_SYNC_PARTS: '1' }), { timeoutMs: 180_000 });
  assert.equal(planned.code, 0, planned.stderr);
  const doc = decodePartPlan(JSON.stringify((JSON.parse(await readFile(path.join(ws, '.model-sync/plan.json'), 'utf8')) as { plan: unknown }).plan));
  const files = doc.partList.flatMap((p) => p.layers.flatMap((l) => l.files.map((f) => f.path))).sort();
  assert.deepEqual(files, ['config.json', 'weights/model.safetensors']);
  const pushed = await runCli(['push', '--part', '1/1'], env({}), { timeoutMs: 180_000 });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.deepEqual((await keysUnder('parted/patterns/')).filter((k) => !k.startsWith('.')), ['config.json', 'weights/model.safetensors']);
});
