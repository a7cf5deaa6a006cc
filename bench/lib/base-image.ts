// The modelcar base image for the package phase: the project's reproducible busybox image
// (src/dev/busybox-base.ts), pushed to the benchmark's registry.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../test/support/cli.js';

const BUILDER = path.join(REPO_ROOT, 'src/dev/busybox-base.ts');

export async function pushBaseImage(registryHost: string, workDir: string): Promise<{ reference: string } | { skip: string }> {
  if (!existsSync(BUILDER)) return { skip: 'src/dev/busybox-base.ts (base image builder) does not exist yet' };
  // Loaded by URL: the module is written in parallel and may not exist when this file is compiled.
  const mod = (await import(pathToFileURL(BUILDER).href)) as Record<string, unknown>;
  void mod;
  void registryHost;
  void workDir;
  return { skip: 'base image builder API not wired yet' };
}
