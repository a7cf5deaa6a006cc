// The outside tools a test file needs, checked once: the first one missing is the file's skip reason
// (with the Debian package that brings it), so each file states what it needs in one line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { registryAvailable } from '../../dev/registry.js';
import { squidAvailable } from './squid.js';

const TOOLS = {
  registry: { present: registryAvailable, missing: 'docker-registry is not installed (apt-get install docker-registry)' },
  skopeo: { present: () => spawnSync('skopeo', ['--version'], { stdio: 'ignore' }).status === 0, missing: 'skopeo is not installed (apt-get install skopeo)' },
  busybox: { present: () => existsSync('/bin/busybox'), missing: 'busybox is not installed (apt-get install busybox-static)' },
  squid: { present: squidAvailable, missing: 'squid is not installed (apt-get install squid)' },
  htpasswd: { present: () => !spawnSync('htpasswd', ['-h'], { stdio: 'ignore' }).error, missing: 'htpasswd is not installed (apt-get install apache2-utils)' },
} as const;

export type Tool = keyof typeof TOOLS;

/** The skip reason for the first of `tools` that is missing, else false. */
export function missingTools(...tools: Tool[]): string | false {
  for (const tool of tools) if (!TOOLS[tool].present()) return TOOLS[tool].missing;
  return false;
}
