// The bench's resume row: `model-sync fetch` killed with SIGKILL once about half of the data set is
// on disk, then run again to the end; what the second run moved again comes from its own log
// (files it skipped as complete, bytes it kept from partial downloads), so it counts bytes, not time.
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { measure, type CommandSpec, type Measurement } from './measure.js';

/** Bytes allocated under `dir` (blocks, not sizes: a ranged download's file is sparse until its parts land). */
export async function allocatedBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const s = await stat(path.join(entry.parentPath, entry.name)).catch(() => undefined);
    if (s) sum += Math.min(s.size, s.blocks * 512);
  }
  return sum;
}

export interface ResumeResult {
  /** Bytes on disk when the first run was killed, as a fraction of the data set. */
  killedAt: number;
  /** Bytes the second run fetched again, as a fraction of the data set. */
  movedAgain: number;
  keptBytes: number;
  skippedBytes: number;
  second: Measurement;
}

/**
 * Runs `cmd` (a fetch into `workspace`) until `fraction` of `totalBytes` is allocated there, kills it
 * with SIGKILL, then runs it again under `measure`, its log going to `logFile`.
 */
export async function killAndResume(cmd: CommandSpec, workspace: string, totalBytes: number, fraction: number, logFile: string): Promise<ResumeResult> {
  const killedAt = await runUntil(cmd, workspace, totalBytes * fraction, totalBytes);
  const [file, ...args] = cmd.argv;
  const second = await measure({ ...cmd, argv: ['bash', '-c', 'log=$1; shift; exec "$@" 2> "$log"', 'resume', logFile, file ?? '', ...args] });
  let keptBytes = 0;
  let skippedBytes = 0;
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; bytes?: number; size?: number };
    if (entry.msg === 'resuming a partial download') keptBytes += entry.bytes ?? 0;
    if (entry.msg === 'already complete, skipping') skippedBytes += entry.size ?? 0;
  }
  return { killedAt: killedAt / totalBytes, movedAgain: (totalBytes - keptBytes - skippedBytes) / totalBytes, keptBytes, skippedBytes, second };
}

/** Starts cmd, polls `dir` every 50 ms, SIGKILLs it once `bytes` are there; returns the bytes seen then. */
function runUntil(cmd: CommandSpec, dir: string, bytes: number, totalBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = cmd.argv;
    const child = spawn(file ?? '', args, { env: cmd.env, stdio: ['ignore', 'ignore', 'ignore'] });
    let seen = 0;
    let killed = false;
    let busy = false;
    const timer = setInterval(() => {
      if (busy || killed) return;
      busy = true;
      void allocatedBytes(dir).then((n) => {
        busy = false;
        seen = n;
        if (n >= bytes && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
    }, 50);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    child.on('close', () => {
      clearInterval(timer);
      if (!killed) reject(new Error(`the fetch ended before ${((100 * bytes) / totalBytes).toFixed(0)} % of the bytes were on disk: nothing to resume`));
      else resolve(seen);
    });
  });
}
