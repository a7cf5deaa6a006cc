// Pure parts of the OCI client: references, challenges, scopes, platform choice, layer names,
// error bodies, and the TLS switch of the transport (against a local https server).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { mergeScopes, parseChallenge } from '../src/oci/auth.js';
import { AgentPool } from '../src/net/policy.js';
import { send } from '../src/net/request.js';
import { modelcarNames } from '../src/sources/oci-layers.js';
import { formatReference, parseImageLocation, parseImageReference, registryScheme } from '../src/oci/reference.js';
import { answersPlainHttp, networkError, parseErrorBody, plainHttpError, registryError } from '../src/oci/registry-errors.js';
import { ModelSyncError } from '../src/errors.js';
import { ociArchitecture, pickPlatform } from '../src/sources/oci.js';
import { tempDir } from '../dev/cli.js';
import { walkTar } from '../src/util/tar-walk.js';

const run = promisify(execFile);

describe('image references', () => {
  it('parses host, port, repository, tag and digest', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    assert.deepEqual(parseImageReference('quay.io/org/model:v1'), { registry: 'quay.io', apiHost: 'quay.io', repository: 'org/model', tag: 'v1' });
    assert.deepEqual(parseImageReference(`127.0.0.1:5000/a/b/c@${d}`), { registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'a/b/c', digest: d });
    assert.deepEqual(parseImageReference(`localhost:5000/m:t@${d}`), { registry: 'localhost:5000', apiHost: 'localhost:5000', repository: 'm', tag: 't', digest: d });
    assert.deepEqual(parseImageReference('oci://quay.io/org/m'), { registry: 'quay.io', apiHost: 'quay.io', repository: 'org/m', tag: 'latest' });
  });

  it('applies Docker Hub aliases and library/ for official images', () => {
    assert.deepEqual(parseImageReference('busybox'), { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' });
    assert.deepEqual(parseImageReference('docker.io/busybox:1.36'), { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: '1.36' });
    assert.equal(parseImageReference('index.docker.io/user/img').repository, 'user/img');
    assert.equal(formatReference(parseImageReference('user/img:x')), 'docker.io/user/img:x');
  });

  it('refuses malformed references with a config error naming the setting', () => {
    for (const [text, why] of [
      ['', /empty/],
      ['quay.io/Org/Model:v1', /lowercase/],
      ['quay.io/org/model:bad tag', /whitespace/],
      ['quay.io/org/model@sha256:123', /sha256 digest/],
      ['quay.io//model', /empty component/],
      ['quay.io/org/model:-x', /not a valid tag/],
    ] as Array<[string, RegExp]>) {
      assert.throws(
        () => parseImageReference(text, '--source-oci-uri / MODEL_SYNC_SOURCE_OCI_URI'),
        (err: Error & { kind?: string }) => err.kind === 'config' && err.message.startsWith('--source-oci-uri / MODEL_SYNC_SOURCE_OCI_URI: invalid image reference') && why.test(err.message),
        text,
      );
    }
  });

  it('reads local layouts oci:<dir>[:tag] and tells registries from layouts', () => {
    assert.deepEqual(parseImageLocation('oci:/tmp/x:v1'), { kind: 'layout', dir: '/tmp/x', tag: 'v1' });
    assert.deepEqual(parseImageLocation('oci:rel/dir'), { kind: 'layout', dir: 'rel/dir' });
    assert.equal(parseImageLocation('oci://quay.io/a/b:c').kind, 'registry');
    assert.throws(() => parseImageLocation('oci::v1'), /directory is missing/);
  });

  it('uses http only for loopback registries', () => {
    assert.equal(registryScheme('localhost:5000'), 'http');
    assert.equal(registryScheme('127.0.0.1:5000'), 'http');
    assert.equal(registryScheme('[::1]:5000'), 'http');
    assert.equal(registryScheme('quay.io'), 'https');
    assert.equal(registryScheme('10.0.0.1:5000'), 'https');
  });
});

describe('auth helpers', () => {
  it('parses Bearer and Basic challenges', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm="basic-realm"'), { scheme: 'basic', params: { realm: 'basic-realm' } });
    assert.equal(parseChallenge('Negotiate abc'), undefined);
  });

  it('merges scopes per resource, actions sorted', () => {
    assert.deepEqual(mergeScopes(['repository:a:push', 'repository:a:pull', 'repository:b:pull']), ['repository:a:pull,push', 'repository:b:pull']);
  });
});

describe('platform choice and layer names', () => {
  const index = {
    schemaVersion: 2 as const,
    manifests: [
      { mediaType: 'x', digest: 'sha256:att', size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
      { mediaType: 'x', digest: 'sha256:amd', size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'x', digest: 'sha256:arm', size: 1, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  };
  it('picks linux/<this arch>, else the first runnable entry', () => {
    assert.equal(pickPlatform(index, 'arm64')?.digest, 'sha256:arm');
    assert.equal(pickPlatform(index, 'amd64')?.digest, 'sha256:amd');
    assert.equal(pickPlatform(index, 's390x')?.digest, 'sha256:amd');
    assert.equal(ociArchitecture('x64'), 'amd64');
  });
  it('keeps only models/ entries of a modelcar layer, prefix stripped', () => {
    assert.equal(modelcarNames('models/a/b.bin'), 'a/b.bin');
    assert.equal(modelcarNames('/models/a'), 'a');
    assert.equal(modelcarNames('./models/a'), 'a');
    assert.equal(modelcarNames('models/'), undefined);
    assert.equal(modelcarNames('bin/sh'), undefined);
  });
});

describe('registry errors', () => {
  const ctx = { registry: 'quay.io', subject: 'quay.io/org/m:v1', operation: 'pull' };
  it('turns error bodies into one-line messages of the right kind', () => {
    const body = Buffer.from(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    const nf = registryError(ctx, 404, body, 'manifest v1');
    assert.equal(nf.kind, 'notFound');
    assert.equal(nf.message, 'cannot pull quay.io/org/m:v1: manifest v1 not found on registry quay.io (HTTP 404 MANIFEST_UNKNOWN: manifest unknown)');
    assert.equal(registryError(ctx, 401, undefined, 'x').kind, 'auth');
    assert.equal(registryError(ctx, 403, undefined, 'x').kind, 'auth');
    assert.equal(registryError(ctx, 503, Buffer.from('<html>\n busy \n</html>'), 'x').kind, 'transient');
    assert.deepEqual(parseErrorBody(Buffer.from('<html>\n busy \n</html>')), { message: '<html> busy </html>' });
    const refused = networkError(ctx, Object.assign(new Error('connect ECONNREFUSED 1.2.3.4:443'), { code: 'ECONNREFUSED' }), 'quay.io');
    assert.equal(refused.kind, 'transient');
    assert.equal(refused.message, 'cannot pull quay.io/org/m:v1: registry quay.io is unreachable (ECONNREFUSED: connect ECONNREFUSED 1.2.3.4:443)');
  });
});

describe('plain HTTP answered to a TLS client', () => {
  const ctx = { registry: 'registry.ns.svc:5000', subject: 'registry.ns.svc:5000/m:v1', operation: 'push' };
  const sslError = (code: string, message: string) => Object.assign(new Error(message), { code });
  it('recognises OpenSSL\'s answers to an HTTP reply, and nothing else', () => {
    assert.equal(answersPlainHttp(sslError('EPROTO', 'write EPROTO 80FC:error:0A00010B:SSL routines:ssl3_get_record:wrong version number')), true);
    assert.equal(answersPlainHttp(sslError('EPROTO', 'error:0A0000C6:SSL routines::packet length too long')), true);
    assert.equal(answersPlainHttp(sslError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')), true);
    assert.equal(answersPlainHttp(sslError('ECONNRESET', 'socket hang up')), false);
    assert.equal(answersPlainHttp(sslError('EPROTO', 'sslv3 alert handshake failure')), false);
    assert.equal(answersPlainHttp(sslError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate')), false);
  });
  it('names the side\'s setting in one line, as a config error', () => {
    const err = plainHttpError(ctx, 'registry.ns.svc:5000', '--source-oci-enable-tls-verify / MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY', undefined);
    assert.equal(err.kind, 'config');
    assert.equal(err.message, 'cannot push registry.ns.svc:5000/m:v1: registry.ns.svc:5000 answers plain HTTP, not HTTPS; set --source-oci-enable-tls-verify false / MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY=false to allow plain HTTP');
  });
});

describe('TLS verification switch', () => {
  it('refuses a self-signed certificate unless verification is off', async () => {
    const dir = await tempDir('ms-tls-');
    try {
      await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
      const server = https.createServer({ key: await readFile(path.join(dir, 'k.pem')), cert: await readFile(path.join(dir, 'c.pem')) }, (_req, res) => res.end('{}'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`);
      try {
        const strict = new AgentPool({ tlsVerify: true });
        const err = await send({ method: 'GET', url }, strict).then(
          () => undefined,
          (e: unknown) => e,
        );
        strict.close();
        assert.ok(err, 'verification must fail');
        // net/ names the host and the refused certificate as a config error (exit 2, not retried).
        assert.ok(err instanceof ModelSyncError);
        assert.equal(err.kind, 'config');
        assert.match(err.message, /^127\.0\.0\.1:\d+ presented a certificate no trusted CA signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
        const mapped = networkError({ registry: url.host, subject: `${url.host}/a:b`, operation: 'pull' }, (err as ModelSyncError).cause, url.host);
        assert.equal(mapped.kind, 'config');
        assert.match(mapped.message, /TLS verification of registry 127\.0\.0\.1:\d+ failed/);
        const lax = new AgentPool({ tlsVerify: false });
        const res = await send({ method: 'GET', url }, lax);
        assert.equal(res.status, 200);
        res.body.resume();
        lax.close();
      } finally {
        server.closeAllConnections();
        server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tar layers', () => {
  async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
    yield* parts;
  }

  it('an empty layer (only the end-of-archive blocks) holds no entries', async () => {
    const names: string[] = [];
    // The empty layer many images carry (sha256:5f70bf18...): 1024 zero bytes, here in two chunks.
    await walkTar(chunks(Buffer.alloc(300), Buffer.alloc(724)), 'layer', async (e) => void names.push(e.path), 'tar layer');
    assert.deepEqual(names, []);
  });

  it('bytes that are no tar archive are still refused', async () => {
    await assert.rejects(walkTar(chunks(Buffer.alloc(1024, 0x41)), 'layer', async () => {}, 'tar layer'), (err: unknown) => err instanceof ModelSyncError && err.kind === 'integrity' && /not a valid tar layer/.test(err.message));
    await assert.rejects(walkTar(chunks(Buffer.from('short')), 'layer', async () => {}, 'tar layer'), (err: unknown) => err instanceof ModelSyncError && err.kind === 'integrity');
  });
});
