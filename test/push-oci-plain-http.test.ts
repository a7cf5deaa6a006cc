// Plain-HTTP registries outside the loopback names (skopeo's --tls-verify=false): with verification
// off, https is tried first and the registry is then reached over http; with it on, a one-line
// config error (exit 2) names the side's setting. A self-signed TLS registry keeps working over https.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciLayout } from '../src/oci/layout.js';
import { Workspace } from '../src/workspace/workspace.js';
import { writeRecord } from '../src/workspace/records.js';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { runCli, tempDir } from '../dev/cli.js';
import { writeRandomImage } from './support/oci-images.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const skip = !registryAvailable() ? 'docker-registry is not installed (apt-get install docker-registry)' : !existsSync('/bin/busybox') ? 'busybox-static is not installed (/bin/busybox)' : false;

async function packagedWorkspace(storage: string): Promise<string> {
  const layout = new OciLayout(path.join(storage, 'image'));
  const desc = await writeRandomImage(layout, 2, 4096);
  const ws = await new Workspace(storage).init();
  await writeRecord(ws, 'package', { baseImage: 'test', baseDigest: desc.digest, indexDigest: desc.digest, mediaType: desc.mediaType, size: desc.size, layerBlobs: 'model-files', layers: [] });
  return desc.digest;
}

describe('plain-HTTP registry on 127.0.0.2 (not a loopback name model-sync special-cases)', { skip }, () => {
  let plain: TestRegistry;
  let tls: TestRegistry;
  let work: string;
  before(async () => {
    plain = await startRegistry({ mode: 'plain', bind: '127.0.0.2' });
    tls = await startRegistry({ mode: 'plain', tls: true });
    work = await tempDir('ms-plain-http-');
  });
  after(async () => {
    await plain?.stop();
    await tls?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('with tls-verify false: push falls back to http, and fetch reads the model back', async () => {
    const base = await buildBusyboxBase(path.join(work, 'base'));
    const storage = path.join(work, 'push-ok');
    await mkdir(path.join(storage, 'model'), { recursive: true });
    await writeFile(path.join(storage, 'model', 'config.json'), '{"plain":"http"}\n');
    const p = await runCli(['package', '--storage-path', storage, '--destination-oci-base-image', `oci:${base.dir}`]);
    assert.equal(p.code, 0, p.stderr);
    const uri = `${plain.host}/models/plain:v1`;
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', uri], { MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /answers plain HTTP, not HTTPS; TLS verification is off, so it is reached over http/);
    assert.equal((r.stderr.match(/answers plain HTTP/g) ?? []).length, 1, 'decided once per registry host');

    const fetched = path.join(work, 'fetched');
    const f = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', uri, '--storage-path', fetched], { MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'false' });
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stderr, /reached over http/);
    assert.equal(await readFile(path.join(fetched, 'model', 'config.json'), 'utf8'), '{"plain":"http"}\n');
  });

  it('with tls-verify true: push and fetch fail with a one-line config error naming the side setting (exit 2)', async () => {
    const storage = path.join(work, 'push-refused');
    await packagedWorkspace(storage);
    const uri = `${plain.host}/models/refused:v1`;
    const p = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', uri]);
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.termination, new RegExp(`${plain.host.replace(/\./g, '\\.')} answers plain HTTP, not HTTPS; set --destination-oci-enable-tls-verify false / MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY=false to allow plain HTTP`));
    assert.doesNotMatch(p.termination, /EPROTO|wrong version/);

    const f = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', uri, '--storage-path', path.join(work, 'fetch-refused')], { MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'true' });
    assert.equal(f.code, 2, f.stderr);
    assert.match(f.termination, /answers plain HTTP, not HTTPS; set --source-oci-enable-tls-verify false \/ MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY=false to allow plain HTTP/);
  });

  it('a self-signed TLS registry with tls-verify false stays on https (no fallback)', async () => {
    const storage = path.join(work, 'push-tls');
    const digest = await packagedWorkspace(storage);
    const r = await runCli(['push', '--storage-path', storage, '--destination-oci-uri', `${tls.host}/models/tls:v1`], { MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout)['image-digest'], digest);
    assert.doesNotMatch(r.stderr, /plain HTTP/);
  });
});
