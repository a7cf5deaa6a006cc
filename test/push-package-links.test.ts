// A workspace tampered with after fetch: a model file replaced by a link to a host file (directly,
// or through a chain of links). Push to S3 (s3rver), push to an image and package refuse it with
// exit 6, and push sends nothing of the host file, through the built CLI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { EXIT } from '../src/errors.js';
import { runCli, tempDir } from '../dev/cli.js';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { startS3Server, S3RVER_KEY, S3RVER_SECRET, type S3Server } from '../dev/s3-server.js';

let s3: S3Server;
let work: string;
let source: string;

before(async () => {
  s3 = await startS3Server('models');
  work = await tempDir('ms-push-links-');
  source = path.join(work, 'source');
  await mkdir(path.join(source, 'weights'), { recursive: true });
  await writeFile(path.join(source, 'config.json'), '{"architectures":["Test"]}\n');
  await writeFile(path.join(source, 'weights/w.bin'), Buffer.alloc(4096, 7));
});

after(async () => {
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A workspace fetched from the local folder, then config.json replaced by `plant`. */
async function tampered(name: string, plant: (model: string) => Promise<void>): Promise<string> {
  const ws = path.join(work, name);
  const r = await runCli(['fetch', '--storage-path', ws, '--source-type', 'uri', '--source-uri', `file://${source}`]);
  assert.equal(r.code, 0, r.stderr);
  const model = path.join(ws, 'model');
  await rm(path.join(model, 'config.json'));
  await plant(model);
  return ws;
}

const PLANTS: Record<string, (model: string) => Promise<void>> = {
  'a link to /etc/hostname': (model) => symlink('/etc/hostname', path.join(model, 'config.json')),
  'a chain of links up to /': async (model) => {
    await mkdir(path.join(model, 'a/b'), { recursive: true });
    await symlink('..', path.join(model, 'a/b/L')); // model/a: inside
    await symlink(`a/b/L/${Array(12).fill('..').join('/')}/etc/hostname`, path.join(model, 'config.json'));
  },
};

async function keysUnder(prefix: string): Promise<string[]> {
  const list = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
  return (list.Contents ?? []).map((o) => o.Key!);
}

test('push to S3 refuses a model file that links out of model/ (exit 6) and uploads nothing', async () => {
  let n = 0;
  for (const [name, plant] of Object.entries(PLANTS)) {
    const ws = await tampered(`ws-push-${++n}`, plant);
    const prefix = `pushed-${n}`;
    const r = await runCli(['push'], {
      MODEL_SYNC_STORAGE_PATH: ws,
      MODEL_SYNC_DESTINATION_TYPE: 's3',
      MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
      MODEL_SYNC_DESTINATION_AWS_KEY: prefix,
      MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
      MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: S3RVER_KEY,
      MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
    });
    assert.equal(r.code, EXIT.unsafe, `${name}: ${r.stderr}`);
    assert.match(r.termination, /^refusing model file "config\.json": it is a link that leads out of the model folder$/m, name);
    assert.deepEqual(await keysUnder(prefix), [], `${name}: nothing uploaded`);
  }
});

test('package refuses a model file that links out of model/ (exit 6) before reading it', async () => {
  let n = 0;
  for (const [name, plant] of Object.entries(PLANTS)) {
    const ws = await tampered(`ws-package-${++n}`, plant);
    const r = await runCli(['package', '--storage-path', ws, '--destination-oci-base-image', `oci:${path.join(work, 'no-base')}`]);
    assert.equal(r.code, EXIT.unsafe, `${name}: ${r.stderr}`);
    assert.match(r.termination, /^refusing model file "config\.json": it is a link that leads out of the model folder/, name);
  }
});

test('push to an image refuses a model file swapped for a link after package (exit 6): no host byte is copied', async () => {
  const base = await buildBusyboxBase(path.join(work, 'base'));
  const ws = path.join(work, 'ws-push-oci');
  const fetched = await runCli(['fetch', '--storage-path', ws, '--source-type', 'uri', '--source-uri', `file://${source}`]);
  assert.equal(fetched.code, 0, fetched.stderr);
  const packaged = await runCli(['package', '--storage-path', ws, '--destination-oci-base-image', `oci:${base.dir}:latest`]);
  assert.equal(packaged.code, 0, packaged.stderr);
  // A host file of the same size, so that the size check alone does not catch the swap.
  const config = await readFile(path.join(ws, 'model/config.json'));
  const secret = Buffer.alloc(config.length, 'S');
  const host = path.join(work, 'host-secret.txt');
  await writeFile(host, secret);
  await rm(path.join(ws, 'model/config.json'));
  await symlink(host, path.join(ws, 'model/config.json'));
  const out = path.join(work, 'pushed-layout');
  const r = await runCli(['push', '--storage-path', ws, '--destination-oci-uri', `oci:${out}:1`]);
  assert.equal(r.code, EXIT.unsafe, r.stderr);
  assert.match(r.termination, /model file "config\.json": it is a link that leads out of the model folder/);
  const blobs = await readdir(path.join(out, 'blobs/sha256')).catch(() => [] as string[]);
  for (const b of blobs) assert.ok(!(await readFile(path.join(out, 'blobs/sha256', b))).includes(secret), `blob ${b} holds the host file`);
});
