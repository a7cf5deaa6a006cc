// The base image's own credentials and TLS setting (upstream PR #2665's names): a base on another
// registry (a mirror) is pulled with its own .dockerconfigjson, or anonymously, and never with the
// destination's credentials; a base on the destination's host still uses the destination's.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { OciLayout } from '../src/oci/layout.js';
import { pushLayout } from '../src/oci/transfer.js';
import { runCli, tempDir } from '../dev/cli.js';
import { memoryLogger } from './support/oci-images.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const skip = !registryAvailable() ? 'docker-registry is not installed (apt-get install docker-registry)' : !existsSync('/bin/busybox') ? 'busybox-static is not installed (/bin/busybox)' : false;
const MIRROR_USER = 'mirroruser';
const MIRROR_PASSWORD = 'mirrorpass';

describe('package: base image credentials and TLS of their own', { skip }, () => {
  let destination: TestRegistry;
  let mirror: TestRegistry;
  let tlsMirror: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    work = await tempDir('ms-base-image-');
    [destination, mirror, tlsMirror] = await Promise.all([
      startRegistry({ mode: 'htpasswd' }),
      startRegistry({ mode: 'htpasswd', username: MIRROR_USER, password: MIRROR_PASSWORD }),
      startRegistry({ mode: 'plain', tls: true }),
    ]);
    const base = await buildBusyboxBase(path.join(work, 'base'));
    const push = (host: string, credentials?: { username: string; password: string }) =>
      pushLayout({ layout: new OciLayout(base.dir), root: base.index, reference: `${host}/library/busybox:1`, credentials, tlsVerify: false, concurrency: 2, log: memoryLogger().log });
    await push(destination.host, { username: REGISTRY_USER, password: REGISTRY_PASSWORD });
    await push(mirror.host, { username: MIRROR_USER, password: MIRROR_PASSWORD });
    await push(tlsMirror.host);
  });
  after(async () => {
    await Promise.all([destination?.stop(), mirror?.stop(), tlsMirror?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function workspace(): Promise<string> {
    const storage = path.join(work, `ws-${++n}`);
    await mkdir(path.join(storage, 'model'), { recursive: true });
    await writeFile(path.join(storage, 'model', 'config.json'), '{"base":"mirror"}\n');
    return storage;
  }
  const destinationEnv = (user: string, password: string) => ({
    MODEL_SYNC_DESTINATION_OCI_URI: `${destination.host}/models/m:v1`,
    MODEL_SYNC_DESTINATION_OCI_USERNAME: user,
    MODEL_SYNC_DESTINATION_OCI_PASSWORD: password,
  });

  it('a base on a second registry is pulled with its own credentials file while the destination has others', async () => {
    const creds = path.join(work, 'mirror.dockerconfigjson');
    await writeFile(creds, JSON.stringify({ auths: { [mirror.host]: { auth: Buffer.from(`${MIRROR_USER}:${MIRROR_PASSWORD}`).toString('base64') } } }));
    const r = await runCli(['package', '--storage-path', await workspace(), '--destination-oci-base-image', `${mirror.host}/library/busybox:1`], {
      ...destinationEnv(REGISTRY_USER, REGISTRY_PASSWORD),
      MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE_CREDENTIALS_PATH: creds,
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it('a base on another host never gets the destination credentials: anonymous, so 401 (exit 4)', async () => {
    // The destination's credentials would open the mirror: they must not be sent there.
    const r = await runCli(['package', '--storage-path', await workspace(), '--destination-oci-base-image', `${mirror.host}/library/busybox:1`], destinationEnv(MIRROR_USER, MIRROR_PASSWORD));
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.termination, new RegExp(`cannot pull the base image ${mirror.host.replace(/\./g, '\\.')}/library/busybox:1`));
  });

  it('a base on the destination host uses the destination credentials (as before)', async () => {
    const r = await runCli(['package', '--storage-path', await workspace(), '--destination-oci-base-image', `${destination.host}/library/busybox:1`], destinationEnv(REGISTRY_USER, REGISTRY_PASSWORD));
    assert.equal(r.code, 0, r.stderr);
  });

  it('the base has its own TLS switch: verified by default, even when the destination turns verification off', async () => {
    const base = `${tlsMirror.host}/library/busybox:1`;
    const env = { ...destinationEnv(REGISTRY_USER, REGISTRY_PASSWORD), MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' };
    const strict = await runCli(['package', '--storage-path', await workspace(), '--destination-oci-base-image', base], env);
    assert.equal(strict.code, 2, strict.stderr);
    assert.match(strict.termination, /presented a certificate no trusted CA signed \(DEPTH_ZERO_SELF_SIGNED_CERT\): add its CA with --destination-oci-base-image-cert-dir .*, or set --destination-oci-base-image-tls-verify false/);
    const lax = await runCli(['package', '--storage-path', await workspace(), '--destination-oci-base-image', base], { ...env, MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE_TLS_VERIFY: 'false' });
    assert.equal(lax.code, 0, lax.stderr);
  });
});
