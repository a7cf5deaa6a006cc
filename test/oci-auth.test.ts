// Registry auth against a real docker-registry: htpasswd (Basic) and Bearer tokens from a token
// service written for the tests (short-lived tokens, to prove refresh and the retry on 401).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { redact } from '../src/util/redact.js';
import { RegistryClient } from '../src/oci/registry-client.js';
import { OciLayout, sha256Digest } from '../src/oci/layout.js';
import { parseImageReference } from '../src/oci/reference.js';
import { pullToLayout, pushLayout } from '../src/oci/transfer.js';
import { tempDir } from '../dev/cli.js';
import { memoryLogger, writeRandomImage } from './support/oci-images.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { startHttpServer } from './support/http-server.js';
import { runCli } from '../dev/cli.js';
import { EXIT } from '../src/errors.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';
const good = { username: REGISTRY_USER, password: REGISTRY_PASSWORD };
const bad = { username: REGISTRY_USER, password: 'wrong-password' };

function expectAuthError(host: string, reference: string, pattern: RegExp) {
  return (err: Error & { kind?: string }) => {
    assert.equal(err.kind, 'auth', err.message);
    assert.ok(err.message.includes(reference), `names the reference: ${err.message}`);
    assert.ok(err.message.includes(`registry ${host}`), `names the registry: ${err.message}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'));
    return true;
  };
}

describe('Basic auth (htpasswd)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let layout: OciLayout;
  before(async () => {
    registry = await startRegistry({ mode: 'htpasswd' });
    work = await tempDir('ms-oci-basic-');
    layout = new OciLayout(path.join(work, 'img'));
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes and pulls with the right password', async () => {
    const root = await writeRandomImage(layout, 2, 2000);
    const reference = `${registry.host}/basic/model:v1`;
    const pushed = await pushLayout({ layout, root, reference, credentials: good, tlsVerify: true, concurrency: 2, log: memoryLogger().log });
    assert.equal(pushed.blobsUploaded, 4);
    const pulled = await pullToLayout({ reference, layout: new OciLayout(path.join(work, 'pulled')), credentials: good, tlsVerify: true, log: memoryLogger().log });
    assert.equal(pulled.digest, root.digest);
  });

  it('fails with a clear auth error for a wrong password', async () => {
    const root = await writeRandomImage(layout, 1, 100);
    const reference = `${registry.host}/basic/model:v2`;
    await assert.rejects(
      pushLayout({ layout, root, reference, credentials: bad, tlsVerify: true, concurrency: 1, log: memoryLogger().log }),
      expectAuthError(registry.host, reference, /credentials of user "testuser" were not accepted/),
    );
  });

  it('fails with a clear auth error without credentials', async () => {
    const reference = `${registry.host}/basic/model:v1`;
    await assert.rejects(
      pullToLayout({ reference, layout: new OciLayout(path.join(work, 'anon')), tlsVerify: true, log: memoryLogger().log }),
      expectAuthError(registry.host, reference, /no credentials were given/),
    );
  });
});

describe('Bearer tokens (token service)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  before(async () => {
    registry = await startRegistry({ mode: 'token', token: { lifetimeSeconds: 2 } });
    work = await tempDir('ms-oci-token-');
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const client = (repo: string, credentials = good) =>
    new RegistryClient(parseImageReference(`${registry.host}/${repo}:t`), { credentials, tlsVerify: true, log: memoryLogger().log, push: true });

  it('gets a push token with Basic credentials, one scope parameter per scope', async () => {
    const service = registry.tokenService!;
    const before = service.requests.length;
    const c = client('tok/one');
    try {
      const data = randomBytes(1000);
      await c.uploadBlob('tok/one', sha256Digest(data), data.length, () => Readable.from([data]));
      const seen = service.requests.slice(before);
      assert.ok(seen.length >= 1);
      assert.deepEqual({ ...seen[0], token: undefined }, { user: REGISTRY_USER, scopes: ['repository:tok/one:pull,push'], outcome: 'issued', token: undefined });
    } finally {
      c.close();
    }
    // A mount asks for pull on the source repository as a second scope.
    const m = client('tok/two');
    try {
      const data = randomBytes(500);
      await m.uploadBlob('tok/one', sha256Digest(data), data.length, () => Readable.from([data]));
      assert.equal(await m.mountBlob('tok/two', sha256Digest(data), 'tok/one'), true);
      assert.ok(service.requests.some((r) => r.scopes.length === 2 && r.scopes.includes('repository:tok/one:pull') && r.scopes.includes('repository:tok/two:pull,push')), JSON.stringify(service.requests));
    } finally {
      m.close();
    }
  });

  it('refreshes the token before it expires during a push that outlives it', async () => {
    const service = registry.tokenService!;
    const layout = new OciLayout(path.join(work, 'slow'));
    const root = await writeRandomImage(layout, 8, 1000);
    // Every request through this proxy waits 150 ms: 8+ blobs one at a time take longer than the 2 s token.
    const proxy = await startFaultProxy(registry.url);
    proxy.rules.push({ delayMs: 150, times: Infinity });
    const before = service.requests.length;
    try {
      const result = await pushLayout({ layout, root, reference: `${new URL(proxy.url).host}/tok/slow:v1`, credentials: good, tlsVerify: true, concurrency: 1, log: memoryLogger().log });
      assert.equal(result.blobsUploaded, 10);
    } finally {
      await proxy.stop();
    }
    const issued = service.requests.slice(before).filter((r) => r.outcome === 'issued' && r.scopes.join(' ') === 'repository:tok/slow:pull,push');
    assert.ok(issued.length >= 2, `expected a refreshed token, saw ${issued.length}`);
    // Apart from the anonymous /v2/ check, no request was refused: tokens were replaced before expires_in.
    assert.deepEqual(proxy.requests.filter((r) => r.status === 401).map((r) => r.url), ['/v2/']);
  });

  it('retries once with a fresh token when the registry answers 401', async () => {
    const service = registry.tokenService!;
    const c = client('tok/poison');
    try {
      await c.headBlob('tok/poison', sha256Digest(Buffer.from('warm-up'))); // learns the challenge, takes a good token
      const before = service.requests.length;
      // The cached token stays valid; force a new client so the next token is the poisoned one.
      const d = client('tok/poison');
      service.poisonNext(1);
      try {
        assert.equal(await d.headBlob('tok/poison', sha256Digest(Buffer.from('absent'))), undefined);
      } finally {
        d.close();
      }
      assert.deepEqual(service.requests.slice(before).map((r) => r.outcome), ['poisoned', 'issued']);
    } finally {
      c.close();
    }
  });

  it('fails with a clear auth error when the token service refuses the password', async () => {
    const reference = `${registry.host}/tok/denied:v1`;
    await assert.rejects(
      pullToLayout({ reference, layout: new OciLayout(path.join(work, 'denied')), credentials: bad, tlsVerify: true, log: memoryLogger().log }),
      expectAuthError(registry.host, reference, /token service 127\.0\.0\.1:\d+ of registry .* refused a token .*credentials of user "testuser"/),
    );
  });

  it('fails with a clear auth error when an anonymous token lacks access', async () => {
    const reference = `${registry.host}/tok/anon:v1`;
    await assert.rejects(
      pullToLayout({ reference, layout: new OciLayout(path.join(work, 'anon')), tlsVerify: true, log: memoryLogger().log }),
      expectAuthError(registry.host, reference, /no credentials were given/),
    );
  });

  for (const realm of ['file:///etc/passwd', 'ftp://127.0.0.1:2121/token']) {
    it(`refuses a token realm with the scheme ${new URL(realm).protocol} (auth), sending nothing there`, async () => {
      // The proxy rewrites the registry's challenge: the realm is what a hostile registry would name.
      const proxy = await startFaultProxy(registry.url);
      proxy.rules.push({ path: '/v2/', setResponseHeaders: { 'www-authenticate': `Bearer realm="${realm}",service="${registry.tokenService!.service}"` }, times: Infinity });
      const host = new URL(proxy.url).host;
      const reference = `${host}/tok/realm:v1`;
      try {
        await assert.rejects(
          pullToLayout({ reference, layout: new OciLayout(path.join(work, 'realm')), credentials: good, tlsVerify: true, log: memoryLogger().log }),
          expectAuthError(host, reference, new RegExp(`named the token realm ${realm.replace(/[/.]/g, '\\$&')}, whose scheme ${new URL(realm).protocol} is not http or https; refusing to send credentials there`)),
        );
        if (realm.startsWith('ftp:')) {
          const r = await runCli(['fetch', '--source-type', 'oci', '--source-oci-uri', reference, '--storage-path', path.join(work, 'realm-cli')], { MODEL_SYNC_SOURCE_OCI_USERNAME: REGISTRY_USER, MODEL_SYNC_SOURCE_OCI_PASSWORD: REGISTRY_PASSWORD });
          assert.equal(r.code, EXIT.auth, r.stderr);
          assert.match(r.termination, /whose scheme ftp: is not http or https/);
          assert.ok(!r.stderr.includes(REGISTRY_PASSWORD) && !r.termination.includes(REGISTRY_PASSWORD));
        }
      } finally {
        await proxy.stop();
      }
    });
  }

  it('registers every token it obtains as a secret, so logs never show it', async () => {
    const service = registry.tokenService!;
    const before = service.requests.length;
    const c = client('tok/secret');
    try {
      await c.headBlob('tok/secret', sha256Digest(Buffer.from('s')));
    } finally {
      c.close();
    }
    const tokens = service.requests.slice(before).map((r) => r.token).filter((t): t is string => !!t);
    assert.ok(tokens.length >= 1);
    for (const t of tokens) assert.ok(!redact(`token is ${t}`).includes(t));
  });
});

describe('Bearer tokens without expires_in, as access_token', { skip }, () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ mode: 'token', token: { lifetimeSeconds: 30, omitExpiresIn: true, tokenField: 'access_token' } });
  });
  after(async () => registry?.stop());

  it('reads access_token and reuses it (60 s by default) across requests', async () => {
    const c = new RegistryClient(parseImageReference(`${registry.host}/acc/one:t`), { credentials: good, tlsVerify: true, log: memoryLogger().log });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await c.headBlob('acc/one', sha256Digest(Buffer.from(String(i)))), undefined);
      assert.equal(c.auth.tokensObtained, 1);
      assert.deepEqual(registry.tokenService!.requests.map((r) => r.outcome), ['issued']);
    } finally {
      c.close();
    }
  });
});

describe('Token realms of a registry reached over https', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  before(async () => {
    registry = await startRegistry({ mode: 'token', tls: true });
    work = await tempDir('ms-oci-realm-');
  });
  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes and pulls with tokens from an https realm on another host', async () => {
    const layout = new OciLayout(path.join(work, 'img'));
    const root = await writeRandomImage(layout, 1, 1000);
    const reference = `${registry.host}/tls/model:v1`;
    assert.match(registry.url, /^https:/);
    assert.match(registry.tokenService!.realm, /^https:/);
    const pushed = await pushLayout({ layout, root, reference, credentials: good, tlsVerify: false, concurrency: 1, log: memoryLogger().log });
    assert.equal(pushed.digest, root.digest);
    const pulled = await pullToLayout({ reference, layout: new OciLayout(path.join(work, 'pulled')), credentials: good, tlsVerify: false, log: memoryLogger().log });
    assert.equal(pulled.digest, root.digest);
    assert.ok(registry.tokenService!.requests.some((r) => r.user === REGISTRY_USER && r.outcome === 'issued'));
  });

  it('refuses a realm over plain http (a downgrade) before any credential is sent', async () => {
    const plain = await startHttpServer();
    const downgraded = await startRegistry({ mode: 'token', tls: true, realm: `${plain.url}/token` });
    const reference = `${downgraded.host}/tls/model:v1`;
    try {
      await assert.rejects(
        pullToLayout({ reference, layout: new OciLayout(path.join(work, 'downgrade')), credentials: good, tlsVerify: false, log: memoryLogger().log }),
        expectAuthError(downgraded.host, reference, /named the token realm http:\/\/127\.0\.0\.1:\d+\/token, over plain http while the registry is reached over https; refusing to send credentials without TLS \(the registry's token realm must be an https URL\)$/),
      );
      assert.deepEqual(plain.requests, [], 'nothing reached the plain-http realm');
    } finally {
      await downgraded.stop();
      await plain.stop();
    }
  });
});
