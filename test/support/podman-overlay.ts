// podman with the overlay storage driver in a private store (scripts/podman-sandboxed.sh
// --storage-driver overlay), for tests that start images the way CRI-O or Docker would: overlay
// mounts one lower dir per layer and refuses images of more than about 128 layers, which the vfs
// store of the image builds does not.
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../dev/cli.js';

const execFileP = promisify(execFile);
const SANDBOXED = path.join(REPO_ROOT, 'scripts/podman-sandboxed.sh');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface OverlayPodman {
  /** The store directory (containers.conf, storage.conf, run/, storage/). */
  dir: string;
  podman(args: string[], opts?: { allowFailure?: boolean; timeoutMs?: number }): Promise<CommandResult>;
  /** Removes every image and container and unmounts what overlay still has mounted under dir. */
  reset(): Promise<void>;
}

/** Why the runtime tests cannot run here, or undefined when they can. */
export function whyNoOverlayPodman(): string | undefined {
  // Rootful podman: overlay mounts and the private store need root (rootless would need fuse-overlayfs).
  if (process.getuid?.() !== 0) return 'needs root (rootful podman with the overlay storage driver in a private store)';
  for (const tool of ['podman', 'runc']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) return `${tool} is not installed (apt-get install podman runc)`;
  }
  return undefined;
}

/**
 * Whether the overlay driver works for a store at dir (`podman info`), or why not: a kernel without
 * overlayfs, or a dir on a file system overlay cannot stack on (overlayfs itself, as in some CI
 * containers), is a reason to skip; any other failure is returned as well, to be reported.
 */
export function probeOverlayPodman(dir: string): { skip?: string; error?: string } {
  const r = spawnSync(SANDBOXED, ['--storage-driver', 'overlay', dir, 'podman', 'info', '--format', '{{.Store.GraphDriverName}}'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0 && r.stdout.trim() === 'overlay') return {};
  const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').pop() ?? '';
  if (/not supported|does not support|unknown filesystem type/i.test(why)) return { skip: `the overlay storage driver does not work for ${dir} here: ${why}` };
  return { error: `podman info with the overlay driver failed (${r.status}): ${why}` };
}

export function overlayPodman(dir: string): OverlayPodman {
  const podman = async (args: string[], opts: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<CommandResult> => {
    try {
      const { stdout, stderr } = await execFileP(SANDBOXED, ['--storage-driver', 'overlay', dir, 'podman', ...args], {
        maxBuffer: 256 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 600_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string };
      if (!opts.allowFailure) throw new Error(`podman ${args.join(' ')} failed (${e.code}): ${(e.stderr ?? '').slice(-4000)}${(e.stdout ?? '').slice(-2000)}`);
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return {
    dir,
    podman,
    reset: async () => {
      await podman(['system', 'reset', '--force'], { allowFailure: true });
    },
  };
}
