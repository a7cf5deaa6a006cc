import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadStep } from '../src/contract/contract.js';
import { resolveConfig, parseBoolean } from '../src/config/config.js';
import { StepSettings } from '../src/config/settings.js';
import { ConfigError } from '../src/errors.js';
import { runCli, tempDir } from '../dev/cli.js';

const fetchStep = loadStep('fetch');
const pushStep = loadStep('push');

test('flags beat env, env beats credential files, files beat defaults', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'AWS_S3_BUCKET'), 'from-file\n');
  await writeFile(path.join(dir, 'AWS_DEFAULT_REGION'), ' eu-west-1 \n');
  await writeFile(path.join(dir, 'AWS_ACCESS_KEY_ID'), 'AKIDFILE');
  const env = { MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH: dir, MODEL_SYNC_SOURCE_AWS_BUCKET: 'from-env', MODEL_SYNC_SOURCE_AWS_KEY: 'k' };
  const byEnv = resolveConfig({ step: fetchStep, flags: {}, env });
  assert.equal(byEnv.string('source-aws-bucket'), 'from-env');
  assert.equal(byEnv.origin('source-aws-bucket'), 'env');
  assert.equal(byEnv.string('source-aws-region'), 'eu-west-1', 'file values are trimmed');
  assert.equal(byEnv.origin('source-aws-region'), 'file');
  const byFlag = resolveConfig({ step: fetchStep, flags: { sourceAwsBucket: 'from-flag' }, env });
  assert.equal(byFlag.string('source-aws-bucket'), 'from-flag');
  const byFile = resolveConfig({ step: fetchStep, flags: {}, env: { ...env, MODEL_SYNC_SOURCE_AWS_BUCKET: '' } });
  assert.equal(byFile.string('source-aws-bucket'), 'from-file', 'an empty env value counts as unset');
  assert.equal(byFile.string('storage-path'), '/tmp/model-sync');
  assert.equal(byFile.origin('storage-path'), 'default');
});

test('AWS_REGION wins over AWS_DEFAULT_REGION, AWS_ENDPOINT_URL over AWS_S3_ENDPOINT, AWS_BUCKET over AWS_S3_BUCKET', async () => {
  const dir = await tempDir();
  for (const [k, v] of Object.entries({ AWS_REGION: 'r1', AWS_DEFAULT_REGION: 'r2', AWS_ENDPOINT_URL: 'http://e1', AWS_S3_ENDPOINT: 'http://e2', AWS_BUCKET: 'b1', AWS_S3_BUCKET: 'b2' })) {
    await writeFile(path.join(dir, k), v);
  }
  const c = resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH: dir, MODEL_SYNC_SOURCE_AWS_KEY: 'k' } });
  assert.deepEqual([c.string('source-aws-region'), c.string('source-aws-endpoint'), c.string('source-aws-bucket')], ['r1', 'http://e1', 'b1']);
});

test('a missing credentials folder and a missing URI file are named errors', async () => {
  assert.throws(
    () => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH: '/nonexistent/x' } }),
    (e: unknown) => e instanceof ConfigError && /--source-s3-credentials-path \/ MODEL_SYNC_SOURCE_S3_CREDENTIALS_PATH: credentials folder not found/.test(e.message),
  );
  const dir = await tempDir();
  assert.throws(
    () => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI_CREDENTIALS_PATH: dir } }),
    /URI credential file not found/,
  );
  await writeFile(path.join(dir, 'URI'), 'https://example.com/m.tar.gz\n');
  const c = resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI_CREDENTIALS_PATH: dir } });
  assert.equal(c.string('source-uri'), 'https://example.com/m.tar.gz');
});

test("booleans accept upstream's words and on/off, in any case, spaces around ignored, and nothing else", () => {
  for (const t of ['true', 'TRUE', 'Yes', 'y', 'T', '1', 'on', ' ON\t']) assert.equal(parseBoolean(t), true, t);
  for (const f of ['false', 'False', 'NO', 'n', 'F', '0', 'off', ' Off ']) assert.equal(parseBoolean(f), false, f);
  for (const bad of ['', 'maybe', 'yess', 'o', '2', 'true1']) assert.equal(parseBoolean(bad), undefined, bad);
  assert.throws(
    () => resolveConfig({ step: pushStep, flags: {}, env: { MODEL_SYNC_DESTINATION_OCI_URI: 'r/x:1', MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'maybe' } }),
    /--destination-oci-enable-tls-verify \/ MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: "maybe" is not a boolean \(use yes\/y\/true\/t\/1\/on or no\/n\/false\/f\/0\/off, in any case\)/,
  );
});

test('required-when rules follow the source and destination type', () => {
  assert.throws(() => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_AWS_BUCKET: 'b' } }), /--source-aws-key \/ MODEL_SYNC_SOURCE_AWS_KEY is required when source-type is s3/);
  assert.throws(() => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_TYPE: 'oci' } }), /--source-oci-uri \/ MODEL_SYNC_SOURCE_OCI_URI is required when source-type is oci/);
  assert.throws(() => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_TYPE: 'uri' } }), /--source-uri \/ MODEL_SYNC_SOURCE_URI is required/);
  assert.throws(() => resolveConfig({ step: pushStep, flags: {}, env: {} }), /--destination-oci-uri \/ MODEL_SYNC_DESTINATION_OCI_URI is required when destination-type is oci/);
  assert.throws(() => resolveConfig({ step: pushStep, flags: {}, env: { MODEL_SYNC_DESTINATION_TYPE: 's3' } }), /--destination-aws-bucket.*; --destination-aws-key/);
  assert.throws(() => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_TYPE: 'gcs' } }), /"gcs" is not one of s3, oci, uri/);
  assert.throws(() => resolveConfig({ step: fetchStep, flags: {}, env: { MODEL_SYNC_SOURCE_TYPE: 'oci', MODEL_SYNC_SOURCE_OCI_URI: 'r/x', MODEL_SYNC_FETCH_CONCURRENCY: 'four' } }), /--fetch-concurrency.*"four" is not an integer/);
});

test('the intent decides which ids are required; the UI ConfigMap may carry them', async () => {
  const register = loadStep('register');
  const base = { MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'http://mr' };
  assert.throws(() => resolveConfig({ step: register, flags: {}, env: base }), /--model-artifact-id \/ MODEL_SYNC_MODEL_ARTIFACT_ID is required when model-upload-intent is update_artifact/);
  assert.throws(() => resolveConfig({ step: register, flags: {}, env: { ...base, MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_version' } }), /--model-id \/ MODEL_SYNC_MODEL_ID is required/);
  assert.doesNotThrow(() => resolveConfig({ step: register, flags: {}, env: { ...base, MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model' } }));
  const cm = await tempDir();
  await writeFile(path.join(cm, 'ModelArtifact.id'), '7\n');
  const c = resolveConfig({ step: register, flags: {}, env: { ...base, MODEL_SYNC_METADATA_CONFIGMAP_PATH: cm } });
  assert.equal(c.string('model-artifact-id'), '7');
  assert.throws(() => resolveConfig({ step: register, flags: {}, env: { MODEL_SYNC_MODEL_ARTIFACT_ID: '1' } }), /--registry-server-address \/ MODEL_SYNC_REGISTRY_SERVER_ADDRESS is required/);
});

test('.dockerconfigjson: the longest repository-path key wins; base64 and plain user:pass', async () => {
  const dir = await tempDir();
  const file = path.join(dir, '.dockerconfigjson');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await writeFile(file, JSON.stringify({ auths: {
    'quay.io': { auth: b64('host:hostpw') },
    'quay.io/org': { auth: b64('org:orgpw') },
    'quay.io/org/repo': { auth: b64('repo:repo:pw') },
    'https://ghcr.io/v1/': { auth: b64('gh:ghpw') },
    'plain.example': { auth: 'legacy:plainpw' },
    'empty.example': { auth: '', email: 'x@example.com' },
  } }));
  const c = resolveConfig({ step: pushStep, flags: {}, env: { MODEL_SYNC_DESTINATION_OCI_URI: 'quay.io/org/repo:1', MODEL_SYNC_DESTINATION_OCI_CREDENTIALS_PATH: file } });
  assert.deepEqual(c.ociCredentials('destination', 'quay.io/org/repo:1'), { username: 'repo', password: 'repo:pw' });
  assert.deepEqual(c.ociCredentials('destination', 'quay.io/org/other:1'), { username: 'org', password: 'orgpw' });
  assert.deepEqual(c.ociCredentials('destination', 'quay.io/else/x@sha256:' + 'a'.repeat(64)), { username: 'host', password: 'hostpw' });
  assert.deepEqual(c.ociCredentials('destination', 'ghcr.io/a/b:2'), { username: 'gh', password: 'ghpw' });
  assert.deepEqual(c.ociCredentials('destination', 'plain.example/a:1'), { username: 'legacy', password: 'plainpw' });
  assert.equal(c.ociCredentials('destination', 'empty.example/a:1'), undefined, 'an empty auth means anonymous');
  const flagged = resolveConfig({ step: pushStep, flags: {}, env: { MODEL_SYNC_DESTINATION_OCI_URI: 'quay.io/org/repo:1', MODEL_SYNC_DESTINATION_OCI_CREDENTIALS_PATH: file, MODEL_SYNC_DESTINATION_OCI_USERNAME: 'u', MODEL_SYNC_DESTINATION_OCI_PASSWORD: 'p4ss' } });
  assert.deepEqual(flagged.ociCredentials('destination', 'quay.io/org/repo:1'), { username: 'u', password: 'p4ss' }, 'flags/env beat the file');
  assert.throws(() => resolveConfig({ step: pushStep, flags: {}, env: { MODEL_SYNC_DESTINATION_OCI_URI: 'r/x:1', MODEL_SYNC_DESTINATION_OCI_USERNAME: 'u' } }), /--destination-oci-password/);
});

test('a missing bucket exits 2 naming flag and env, with the cause in the termination file', async () => {
  const ws = await tempDir();
  const r = await runCli(['fetch', '--storage-path', ws, '--source-aws-key', 'models/x']);
  assert.equal(r.code, 2);
  assert.match(r.termination, /--source-aws-bucket \/ MODEL_SYNC_SOURCE_AWS_BUCKET is required/);
  assert.equal(r.termination.includes('\n'), false, 'one line');
  assert.match(r.stderr, /MODEL_SYNC_SOURCE_AWS_BUCKET/);
});

test('an unwritable termination path is skipped quietly', async () => {
  const ws = await tempDir();
  await mkdir(path.join(ws, 'ro'));
  const r = await runCli(['fetch', '--storage-path', ws], { TERMINATION_MESSAGE_PATH: '/nonexistent-dir/termination-log' });
  assert.equal(r.code, 2);
  assert.doesNotMatch(r.stderr, /ENOENT/);
});

test('--stream: on by default for all, turned off by flag or env; the separate steps never stream', () => {
  const allStep = loadStep('all');
  const needed = {
    MODEL_SYNC_SOURCE_AWS_BUCKET: 'b',
    MODEL_SYNC_SOURCE_AWS_KEY: 'k',
    MODEL_SYNC_DESTINATION_OCI_URI: 'r/x:1',
    MODEL_SYNC_MODEL_ARTIFACT_ID: '1',
    MODEL_SYNC_REGISTRY_SERVER_ADDRESS: 'http://mr',
  };
  const settings = (step: typeof allStep, flags: Record<string, unknown>, env: Record<string, string>) =>
    new StepSettings(resolveConfig({ step, flags, env: { ...needed, ...env } }), { env: {} });
  assert.equal(settings(allStep, {}, {}).streaming(), true);
  assert.equal(settings(allStep, {}, { MODEL_SYNC_STREAM: 'off' }).streaming(), false);
  assert.equal(settings(allStep, { stream: 'false' }, { MODEL_SYNC_STREAM: 'true' }).streaming(), false, 'the flag beats the env');
  assert.equal(settings(allStep, {}, {}).streamingSetting(), '--stream / MODEL_SYNC_STREAM');
  assert.equal(settings(pushStep, {}, { MODEL_SYNC_STREAM: 'true' }).streaming(), false);
  assert.equal(settings(pushStep, {}, {}).streamingSetting(), undefined);
  assert.throws(() => resolveConfig({ step: allStep, flags: {}, env: { ...needed, MODEL_SYNC_STREAM: 'maybe' } }), /--stream \/ MODEL_SYNC_STREAM: "maybe" is not a boolean/);
});
