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
  const { code, stdout, stderr, termination } = await runCliSignalled(args, env, undefined, opts);
  return { code, stdout, stderr, termination };
}

export interface SignalPlan {
  /** Sent once `when` holds; it is polled every 50 ms with what the CLI logged so far. */
  when: (stderr: string) => boolean | Promise<boolean>;
  signal: NodeJS.Signals;
  /** Sends the same signal again this many ms after the first (Kubernetes may). */
  againAfterMs?: number;
}

export interface SignalledResult extends CliResult {
  /** The signal that ended the child, when it did not exit by itself (e.g. SIGKILL). */
  killedBy: NodeJS.Signals | null;
  /** Milliseconds from the first signal to the child's exit (-1 when none was sent). */
  msAfterSignal: number;
}

/** Runs the CLI; with a plan, a signal is sent to it once it has logged what `plan.when` waits for. */
export async function runCliSignalled(
  args: string[],
  env: Record<string, string | undefined>,
  plan: SignalPlan | undefined,
  opts: { timeoutMs?: number } = {},
): Promise<SignalledResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-term-'));
  const termination = path.join(dir, 'termination-log');
  try {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: cleanEnv({ MODEL_SYNC_LOG_FORMAT: 'json', TERMINATION_MESSAGE_PATH: termination, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exited = false;
    let signalledAt = -1;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<{ code: number | null; killedBy: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, killedBy) => {
        exited = true;
        resolve({ code, killedBy });
      }),
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    if (plan) void (async () => {
      while (!exited && !(await plan.when(stderr))) await new Promise((r) => setTimeout(r, 50));
      if (exited) return;
      signalledAt = Date.now();
      child.kill(plan.signal);
      if (plan.againAfterMs !== undefined) setTimeout(() => !exited && child.kill(plan.signal), plan.againAfterMs);
    })();
    const { code, killedBy } = await closed;
    const endedAt = Date.now();
    clearTimeout(timer);
    const message = await readFile(termination, 'utf8').catch(() => '');
    return { code: code ?? -1, killedBy, stdout, stderr, termination: message, msAfterSignal: signalledAt < 0 ? -1 : endedAt - signalledAt };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function tempDir(prefix = 'ms-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}
