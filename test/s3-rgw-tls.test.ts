// S3 over TLS on a real S3: RGW's beast frontend with a test certificate (dev/rgw.ts `tls`), reached
// through the built CLI. Trusted through NODE_EXTRA_CA_CERTS, fetch and push work over https;
// without it the certificate is refused and nothing is downloaded.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { runCli, tempDir } from '../dev/cli.js';
import { readTree } from './support/fetch-helpers.js';
import { useRgw } from './support/rgw.js';
import { s3FetchEnv } from './support/s3-fetch-env.js';

// The certificate exists before the RGW starts: made at load time, removed in `after`.
const certDir = mkdtempSync(path.join(tmpdir(), 'ms-rgw-tls-'));
const certPath = path.join(certDir, 'cert.pem');
const keyPath = path.join(certDir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', keyPath, '-out', certPath, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });

const rgw = useRgw({ tls: { certPath, keyPath } });
const body = randomBytes(200_000);
let dir: string;

/** Only the test certificate is trusted: the machine's CA variables are replaced, not inherited. */
const TRUST_TEST_CERT = { NODE_EXTRA_CA_CERTS: certPath, SSL_CERT_FILE: '', AWS_CA_BUNDLE: '' };
const TRUST_NOTHING_EXTRA = { NODE_EXTRA_CA_CERTS: '', SSL_CERT_FILE: '', AWS_CA_BUNDLE: '' };

before(async () => {
  await rgw.ready;
  dir = await tempDir('ms-s3-rgw-tls-');
  await rgw().put('tls/weights.bin', body);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  await rm(certDir, { recursive: true, force: true });
});

test('the endpoint is https and the certificate is the test one', () => {
  assert.match(rgw().endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  const served = execFileSync('openssl', ['s_client', '-connect', rgw().endpoint.slice('https://'.length), '-showcerts'], { input: '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
  const pem = (text: string) => /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  assert.equal(pem(served), pem(readFileSync(certPath, 'utf8')));
});

test('fetch and push over https with the test certificate trusted', async () => {
  const ws = path.join(dir, 'trusted');
  const fetched = await runCli(['fetch'], s3FetchEnv(rgw().bucket, rgw().endpoint, ws, 'tls', TRUST_TEST_CERT, rgw()));
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.ok((await readTree(path.join(ws, 'model'))).get('weights.bin')?.equals(body));

  const pushed = await runCli(['push'], {
    ...TRUST_TEST_CERT,
    MODEL_SYNC_STORAGE_PATH: ws,
    MODEL_SYNC_DESTINATION_TYPE: 's3',
    MODEL_SYNC_DESTINATION_AWS_BUCKET: rgw().bucket,
    MODEL_SYNC_DESTINATION_AWS_KEY: 'tls-copy',
    MODEL_SYNC_DESTINATION_AWS_ENDPOINT: rgw().endpoint,
    MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: rgw().accessKey,
    MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: rgw().secretKey,
  });
  assert.equal(pushed.code, 0, pushed.stderr);
  const copy = await rgw().client.send(new GetObjectCommand({ Bucket: rgw().bucket, Key: 'tls-copy/weights.bin' }));
  assert.ok(Buffer.from(await copy.Body!.transformToByteArray()).equals(body));
});

test('without trusting the test certificate, fetch fails and downloads nothing', async () => {
  const ws = path.join(dir, 'untrusted');
  const r = await runCli(['fetch', '--retry-attempts', '1'], s3FetchEnv(rgw().bucket, rgw().endpoint, ws, 'tls', TRUST_NOTHING_EXTRA, rgw()));
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.termination, /certificate/i);
  assert.equal((await readTree(path.join(ws, 'model')).catch(() => new Map())).size, 0);
});
