// `npm run demo` (scripts/demo.ts) works on this machine: it prints the registry ids and the image
// reference. Run in both destination modes: the image layout always, the local registry when installed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../dev/cli.js';
import { registryAvailable } from '../dev/registry.js';

const run = promisify(execFile);

async function demo(args: string[]): Promise<string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MODEL_SYNC_')) env[k] = v;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/demo.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { ...env, MODEL_SYNC_LOG_FORMAT: 'json' },
    timeout: 50_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

describe('npm run demo', () => {
  it('to an OCI image layout: prints the three ids and the oci: reference', async () => {
    const out = await demo(['--layout']);
    assert.match(out, /RegisteredModel id: \d+/);
    assert.match(out, /ModelVersion id: +\d+/);
    assert.match(out, /ModelArtifact id: +\d+/);
    assert.match(out, /image reference: +oci:\/.+\/modelcar:1\.0\.0 \(digest sha256:[0-9a-f]{64}\)/);
    assert.match(out, /"intent": "create_model"/);
  });

  it('to a local registry when docker-registry is installed', { skip: registryAvailable() ? false : 'docker-registry is not installed' }, async () => {
    const out = await demo([]);
    assert.match(out, /destination: local registry/);
    assert.match(out, /image reference: +oci:\/\/127\.0\.0\.1:\d+\/demo\/sentiment:1\.0\.0/);
  });
});
