import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addSecret, addCredentialPair, redact } from '../src/util/redact.js';

test('registered secrets and credential-shaped text are masked', () => {
  addSecret('s3cr3t-value-123');
  addCredentialPair('alice', 'hunter22');
  const line = [
    'key s3cr3t-value-123',
    `basic ${Buffer.from('alice:hunter22').toString('base64')}`,
    'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig',
    'https://bob:pa55word@registry.example.com/v2/',
    'https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abcdef0123&X-Amz-Credential=AKID%2F2026',
    '{"password":"pw-in-json"}',
  ].join(' | ');
  const out = redact(line);
  for (const leaked of ['s3cr3t-value-123', 'hunter22', Buffer.from('alice:hunter22').toString('base64'), 'eyJhbGciOiJIUzI1NiJ9', 'pa55word', 'abcdef0123', 'AKID%2F2026', 'pw-in-json']) {
    assert.equal(out.includes(leaked), false, `${leaked} leaked: ${out}`);
  }
  assert.ok(out.includes('registry.example.com'), 'the rest stays readable');
});

test('URLs in the debug configuration dump lose user info and query', async () => {
  const { displayUrl } = await import('../src/util/redact.js');
  assert.equal(displayUrl('https://u:p@example.com/m.tar?key=abcdefghijkl#x'), 'https://example.com/m.tar?[query hidden]');
  assert.equal(displayUrl('/plain/path'), '/plain/path');
  const { runCli, tempDir } = await import('../dev/cli.js');
  const ws = await tempDir();
  const r = await runCli(['fetch', '--storage-path', ws, '--log-level', 'debug', '--source-type', 'uri', '--source-uri', 'http://127.0.0.1:9/m.bin?key=abcdefghijkl', '--fetch-concurrency', 'x']);
  assert.equal(r.code, 2);
  const d = await runCli(['fetch', '--storage-path', ws, '--log-level', 'debug', '--source-type', 'uri', '--source-uri', 'http://127.0.0.1:9/m.bin?key=abcdefghijkl']);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /"configuration"/, 'the debug dump was written');
  assert.equal(d.stderr.includes('abcdefghijkl'), false, d.stderr);
});
