// `model-sync push` (destination oci) through the built CLI against a real docker-registry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OciLayout, sha256Digest } from '../src/oci/layout.js';
import type { ImageIndex } from '../src/oci/types.js';
import { runCli, tempDir } from '../dev/cli.js';
import { writeRandomImage } from './support/oci-images.js';
import { freePort, REGISTRY_PASSWORD, REGISTRY_USER, registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const run = promisify(execFile);
const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';

/** A workspace as package leaves it: image/ layout tagged latest and the package record. */
async function packagedWorkspace(root: string, withRecord = true): Promise<{ storage: string; digest: string }> {
  const storage = path.join(root, 'ws');
  const layout = new OciLayout(path.join(storage, 'image'));
  const desc = await writeRandomImage(layout, 3, 4096);
  if (withRecord) {
    const { Workspace } = await import('../src/workspace/workspace.js');
    const { writeRecord } = await import('../src/workspace/records.js');
    const ws = await new Workspace(storage).init();
    // A package record with no model layers: every blob of this image is a file in image/.
    await writeRecord(ws, 'package', { baseImage: 'test', baseDigest: desc.digest, indexDigest: desc.digest, mediaType: desc.mediaType, size: desc.size, layerBlobs: 'model-files', layers: [] });
  }
  return { storage, digest: desc.digest };
}

function logLines(stderr: string): Array<Record<string, unknown> & { msg: string }> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string });
}

describe('push (destination oci) through the CLI', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  before(async () => {
    registry = await startRegistry({ mode: 'htpasswd' });
    work = await tempDir('ms-push-oci-');
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const auth = { MODEL_SYNC_DESTINATION_OCI_USERNAME: REGISTRY_USER, MODEL_SYNC_DESTINATION_OCI_PASSWORD: REGISTRY_PASSWORD };

  it('pushes the packaged image, records results, and a second run uploads no blob', async () => {
    const { storage, digest } = await packagedWorkspace(path.join(work, 'a'));
    const uri = `${registry.host}/models/pushed:v1`;
    const first = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', uri], auth);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout), { 'model-uri': `oci://${uri}`, 'image-digest': digest });
    assert.equal(await readFile(path.join(storage, '.model-sync/results/image-digest'), 'utf8'), digest);
    const record = JSON.parse(await readFile(path.join(storage, '.model-sync/push.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(record.digest, digest);
    assert.equal(record.blobsUploaded, 5);
    assert.ok(!first.stderr.includes(REGISTRY_PASSWORD), 'the password never reaches the logs');

    const second = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', uri], auth);
    assert.equal(second.code, 0, second.stderr);
    const line = logLines(second.stderr).find((l) => typeof l.blobsSkipped === 'number');
    assert.ok(line, second.stderr);
    assert.equal(line.blobsUploaded, 0);
    assert.equal(line.blobsSkipped, 5);
    assert.match(line.msg, /uploaded 0 blobs, skipped 5 already present/);

    const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${REGISTRY_USER}:${REGISTRY_PASSWORD}`, `docker://${uri}`]);
    assert.equal(sha256Digest(Buffer.from(stdout)), digest);
    assert.equal((JSON.parse(stdout) as ImageIndex).manifests.length, 2);
  });

  it('finds the image by the latest tag when package left no record', async () => {
    const { storage, digest } = await packagedWorkspace(path.join(work, 'b'), false);
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', `${registry.host}/models/norecord:v1`], auth);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout)['image-digest'], digest);
  });

  it('pushes to a local image layout (oci:<dir>:<tag>) without any registry', async () => {
    const { storage, digest } = await packagedWorkspace(path.join(work, 'c'));
    const dir = path.join(work, 'c-out');
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', `oci:${dir}:v7`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { 'model-uri': `oci:${dir}:v7`, 'image-digest': digest });
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${dir}:v7`]);
    assert.equal(sha256Digest(Buffer.from(stdout)), digest);
  });

  it('wrong password: exit code 4 and a one-line cause naming registry and reference', async () => {
    const { storage } = await packagedWorkspace(path.join(work, 'd'));
    const uri = `${registry.host}/models/denied:v1`;
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', uri], { ...auth, MODEL_SYNC_DESTINATION_OCI_PASSWORD: 'not-the-password' });
    assert.equal(r.code, 4, r.stderr);
    assert.ok(r.termination.includes(uri) && r.termination.includes(`registry ${registry.host}`), r.termination);
    assert.ok(!r.termination.trim().includes('\n'));
    assert.ok(!r.stderr.includes('not-the-password'));
  });

  it('registry down: exit code 10 (transient) naming the registry', async () => {
    const { storage } = await packagedWorkspace(path.join(work, 'e'));
    const port = await freePort();
    const uri = `127.0.0.1:${port}/models/down:v1`;
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', uri], auth);
    assert.equal(r.code, 10, r.stderr);
    assert.match(r.termination, new RegExp(`cannot push 127\\.0\\.0\\.1:${port}/models/down:v1: registry 127\\.0\\.0\\.1:${port} is unreachable`));
  });

  it('no packaged image: exit code 3 telling to run package first', async () => {
    const storage = path.join(work, 'empty');
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', `${registry.host}/models/x:v1`], auth);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.termination, /run package first/);
  });

  it('an invalid reference is a config error naming the flag and env var', async () => {
    const { storage } = await packagedWorkspace(path.join(work, 'f'));
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', `${registry.host}/Models/UPPER:v1`], auth);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.termination, /--destination-oci-uri \/ MODEL_SYNC_DESTINATION_OCI_URI: invalid image reference .*lowercase/);
  });
});
