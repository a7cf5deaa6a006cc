// The scale-out settings (steps/plan.yaml, assemble.yaml, push.yaml's part): push takes the
// source settings for --part only, so a plain push needs no source; --part is parsed and named;
// plan needs --parts; preflight with --parts counts only the base image; all takes neither.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadStep } from '../src/contract/contract.js';
import { resolveConfig } from '../src/config/config.js';
import { StepSettings } from '../src/config/settings.js';
import { ConfigError } from '../src/errors.js';

const push = loadStep('push');
const destination = { MODEL_SYNC_DESTINATION_TYPE: 'oci', MODEL_SYNC_DESTINATION_OCI_URI: '127.0.0.1:5000/models/m:v1' };

test('a plain push needs no source; push --part needs the source as fetch does', () => {
  assert.doesNotThrow(() => resolveConfig({ step: push, flags: {}, env: destination }));
  assert.throws(
    () => resolveConfig({ step: push, flags: {}, env: { ...destination, MODEL_SYNC_PART: '1/2' } }),
    (err: Error) => err instanceof ConfigError && /--source-aws-bucket \/ MODEL_SYNC_SOURCE_AWS_BUCKET is required when source-type is s3/.test(err.message),
  );
  const ok = resolveConfig({ step: push, flags: {}, env: { ...destination, MODEL_SYNC_PART: '2/3', MODEL_SYNC_SOURCE_AWS_BUCKET: 'b', MODEL_SYNC_SOURCE_AWS_KEY: 'k/' } });
  assert.deepEqual(new StepSettings(ok, { env: {} }).partSelector(), { index: 2, parts: 3 });
});

test('--part is parsed, and a bad one names the setting', () => {
  const settingsWith = (part: string) => new StepSettings(resolveConfig({ step: push, flags: { part }, env: { ...destination, MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: 'hf://org/m' } }), { env: {} });
  for (const bad of ['0/3', '4/3', '1/0', 'a/b', '2']) {
    assert.throws(() => settingsWith(bad).partSelector(), (err: Error) => err instanceof ConfigError && err.message.startsWith('--part / MODEL_SYNC_PART: '), bad);
  }
  assert.equal(new StepSettings(resolveConfig({ step: push, flags: {}, env: destination }), { env: {} }).partSelector(), undefined);
});

test('plan needs --parts within its bounds; preflight with --parts counts the base image only; all takes neither', () => {
  const plan = loadStep('plan');
  const env = { ...destination, MODEL_SYNC_SOURCE_AWS_BUCKET: 'b', MODEL_SYNC_SOURCE_AWS_KEY: 'k/' };
  assert.throws(() => new StepSettings(resolveConfig({ step: plan, flags: {}, env }), { env: {} }).partCount(), /--parts \/ MODEL_SYNC_PARTS is required/);
  assert.equal(new StepSettings(resolveConfig({ step: plan, flags: {}, env: { ...env, MODEL_SYNC_PARTS: '8' } }), { env: {} }).partCount(), 8);
  assert.throws(() => resolveConfig({ step: plan, flags: {}, env: { ...env, MODEL_SYNC_PARTS: '0' } }), /--parts \/ MODEL_SYNC_PARTS: must be at least 1/);
  const preflight = loadStep('preflight');
  assert.ok(preflight.parameters.some((p) => p.name === 'parts'));
  assert.ok(!preflight.parameters.some((p) => p.name === 'part'));
  const all = loadStep('all');
  assert.ok(!all.parameters.some((p) => p.name === 'parts' || p.name === 'part'));
  assert.ok(all.parameters.some((p) => p.name === 'stream'), 'all still takes every other parameter');
});
