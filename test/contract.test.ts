import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { allSteps, envNameOf, parameterCatalog } from '../src/contract/contract.js';
import { buildProgram } from '../src/cli.js';
import { configurationTable, extractSection, resultsTable } from '../scripts/lib/readme.js';
import { REPO_ROOT, runCli } from '../dev/cli.js';

const UPSTREAM_ENV = [
  'SOURCE_TYPE', 'SOURCE_S3_CREDENTIALS_PATH', 'SOURCE_OCI_CREDENTIALS_PATH', 'SOURCE_URI_CREDENTIALS_PATH', 'SOURCE_URI',
  'SOURCE_AWS_BUCKET', 'SOURCE_AWS_KEY', 'SOURCE_AWS_REGION', 'SOURCE_AWS_ACCESS_KEY_ID', 'SOURCE_AWS_SECRET_ACCESS_KEY',
  'SOURCE_AWS_ENDPOINT', 'SOURCE_OCI_URI', 'SOURCE_OCI_REGISTRY', 'SOURCE_OCI_USERNAME', 'SOURCE_OCI_PASSWORD',
  'DESTINATION_TYPE', 'DESTINATION_S3_CREDENTIALS_PATH', 'DESTINATION_OCI_CREDENTIALS_PATH', 'DESTINATION_AWS_BUCKET',
  'DESTINATION_AWS_KEY', 'DESTINATION_AWS_REGION', 'DESTINATION_AWS_ACCESS_KEY_ID', 'DESTINATION_AWS_SECRET_ACCESS_KEY',
  'DESTINATION_AWS_ENDPOINT', 'DESTINATION_OCI_URI', 'DESTINATION_OCI_REGISTRY', 'DESTINATION_OCI_USERNAME',
  'DESTINATION_OCI_PASSWORD', 'DESTINATION_OCI_BASE_IMAGE', 'DESTINATION_OCI_ENABLE_TLS_VERIFY', 'MODEL_UPLOAD_INTENT',
  'MODEL_ID', 'MODEL_VERSION_ID', 'MODEL_ARTIFACT_ID', 'STORAGE_PATH', 'REGISTRY_SERVER_ADDRESS', 'REGISTRY_PORT',
  'REGISTRY_IS_SECURE', 'REGISTRY_AUTHOR', 'REGISTRY_USER_TOKEN', 'REGISTRY_USER_TOKEN_ENVVAR', 'REGISTRY_CUSTOM_CA',
  'REGISTRY_CUSTOM_CA_ENVVAR', 'REGISTRY_LOG_LEVEL', 'METADATA_CONFIGMAP_PATH',
];

test('every upstream MODEL_SYNC_* variable is in the catalog with its flag', () => {
  const envs = new Map([...parameterCatalog().values()].map((p) => [p.env, p]));
  for (const name of UPSTREAM_ENV) {
    const p = envs.get(`MODEL_SYNC_${name}`);
    assert.ok(p, `MODEL_SYNC_${name} missing`);
    assert.equal(p.flag, `--${name.toLowerCase().replace(/_/g, '-')}`);
    assert.equal(p.upstream, true, `${name} is upstream`);
  }
});

test('upstream defaults are kept', () => {
  const c = parameterCatalog();
  assert.equal(c.get('source-type')?.default, 's3');
  assert.equal(c.get('destination-type')?.default, 'oci');
  assert.equal(c.get('destination-oci-base-image')?.default, 'public.ecr.aws/docker/library/busybox:latest');
  assert.equal(c.get('destination-oci-enable-tls-verify')?.default, true);
  assert.equal(c.get('model-upload-intent')?.default, 'update_artifact');
  assert.equal(c.get('storage-path')?.default, '/tmp/model-sync');
  assert.equal(c.get('registry-port')?.default, 443);
  assert.equal(c.get('registry-is-secure')?.default, true);
});

test('env names follow MODEL_SYNC_X_Y <=> --x-y for every parameter', () => {
  for (const p of parameterCatalog().values()) {
    assert.equal(p.env, envNameOf(p.name));
    assert.match(p.name, /^[a-z][a-z0-9-]*$/);
  }
});

test("the README's configuration and results tables match steps/", () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  assert.equal(extractSection(readme, 'configuration'), configurationTable(), 'run `npm run generate`');
  assert.equal(extractSection(readme, 'results'), resultsTable(), 'run `npm run generate`');
  for (const p of parameterCatalog().values()) assert.ok(readme.includes(`\`${p.env}\``), `${p.env} in README`);
});

test('the CLI offers exactly the contract parameters on every step', () => {
  const program = buildProgram();
  for (const step of allSteps()) {
    const cmd = program.commands.find((c) => c.name() === step.name);
    assert.ok(cmd, `command ${step.name}`);
    const flags = cmd.options.map((o) => o.long).sort();
    assert.deepEqual(flags, step.parameters.map((p) => p.flag).sort(), step.name);
  }
});

test('--help of every step lists every parameter with its env var', async () => {
  for (const step of allSteps()) {
    const r = await runCli([step.name, '--help']);
    assert.equal(r.code, 0, r.stderr);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const p of step.parameters) {
      assert.ok(help.includes(p.flag), `${step.name} --help names ${p.flag}`);
      assert.ok(help.includes(p.env), `${step.name} --help names ${p.env}`);
    }
  }
});
