import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addSecret, addCredentialPair, redact } from '../src/config/redact.js';

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
