// What the scale-out tests on real servers share (test/scale-out.test.ts, test/scale-out-parts.test.ts):
// their tools, the size unit of their models, and the minimal base image in the registry.
import { execFileSync } from 'node:child_process';
import { buildMinimalBase } from '../../dev/minimal-base.js';
import type { TestRegistry } from '../../dev/registry.js';
import { missingTools } from './requirements.js';

export const MiB = 1024 * 1024;

/** The skip reason of a file needing docker-registry and skopeo, else false. */
export const scaleOutSkip = missingTools('registry', 'skopeo');

/** Builds the minimal base in `dir` and copies it to `<registry>/base/minimal:latest`; its reference. */
export async function pushMinimalBase(registry: TestRegistry, dir: string): Promise<string> {
  const layout = await buildMinimalBase(dir);
  // --preserve-digests: the base in the registry is the very image of the layout.
  execFileSync('skopeo', ['copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', layout.reference, `docker://${registry.host}/base/minimal:latest`]);
  return `${registry.host}/base/minimal:latest`;
}
