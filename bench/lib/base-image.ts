// The modelcar base image for the package phase: the project's reproducible busybox image
// (dev/busybox-base.ts), pushed with all its platforms to the benchmark's registry.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../dev/cli.js';

const run = promisify(execFile);
const BUILDER = path.join(REPO_ROOT, 'dev/busybox-base.ts');

type BuildBusyboxBase = (dir: string) => Promise<{ dir: string }>;

export async function pushBaseImage(registryHost: string, workDir: string): Promise<{ reference: string } | { skip: string }> {
  if (!existsSync(BUILDER)) return { skip: 'dev/busybox-base.ts (base image builder) does not exist' };
  // Loaded by URL: a dev utility written beside the benchmark, not part of the product's imports.
  const mod = (await import(pathToFileURL(BUILDER).href)) as { buildBusyboxBase?: BuildBusyboxBase };
  if (typeof mod.buildBusyboxBase !== 'function') return { skip: 'dev/busybox-base.ts has no buildBusyboxBase(dir)' };
  const base = await mod.buildBusyboxBase(path.join(workDir, 'busybox-oci'));
  const reference = `${registryHost}/library/busybox:latest`;
  // --preserve-digests: skopeo would otherwise recompress the layer and change its digest.
  await run('skopeo', ['copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${base.dir}:latest`, `docker://${reference}`]);
  return { reference };
}
