// Runs the built CLI (dist/) as a child process, the way a pod runs it.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(REPO_ROOT, 'dist/src/cli.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Contents of the termination message file ('' when none was written). */
  termination: string;
}

/** Environment without the machine's MODEL_SYNC_*, AWS_* and SIGSTORE_* variables, so tests see only what they set. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('MODEL_SYNC_') || k.startsWith('AWS_') || k.startsWith('SIGSTORE_')) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export async function runCli(args: string[], env: Record<string, string | undefined> = {}, opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-term-'));
  const termination = path.join(dir, 'termination-log');
  try {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: cleanEnv({ MODEL_SYNC_LOG_FORMAT: 'json', TERMINATION_MESSAGE_PATH: termination, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    clearTimeout(timer);
    const message = await readFile(termination, 'utf8').catch(() => '');
    return { code, stdout, stderr, termination: message };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function tempDir(prefix = 'ms-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}
