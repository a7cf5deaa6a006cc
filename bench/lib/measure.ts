// Runs one command and measures its wall time, peak resident memory (the largest of the command
// and its descendants) and CPU time (user + system of the command and its waited-for children), with
// GNU time when installed, else by sampling /proc (no CPU time then).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  seconds: number;
  /** Peak RSS in MiB (undefined when it could not be measured). */
  peakRssMiB: number | undefined;
  /** User + system CPU seconds of the command and its children (GNU time's %U + %S). */
  cpuSeconds: number | undefined;
  rssMethod: 'gnu-time' | 'proc-sampling';
}

export interface CommandSpec {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

export class CommandFailed extends Error {
  constructor(
    readonly argv: string[],
    readonly code: number,
    readonly output: string,
  ) {
    super(`${argv.join(' ')} exited with ${code}: ${output.trim().split('\n').slice(-5).join(' | ')}`);
  }
}

/** `onStart` runs beside the command (e.g. to sample its workspace) and returns its stop function. */
export async function measure(cmd: CommandSpec, onStart?: (pid: number) => () => void): Promise<Measurement> {
  return existsSync(GNU_TIME) ? measureWithGnuTime(cmd, onStart) : measureBySampling(cmd, onStart);
}

async function measureWithGnuTime(cmd: CommandSpec, onStart?: (pid: number) => () => void): Promise<Measurement> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-bench-time-'));
  const out = path.join(dir, 'time.txt');
  try {
    const started = process.hrtime.bigint();
    // %M: maximum resident set size in KiB (GNU time reports the largest process); %U %S: user and
    // system seconds of the command and every child it waited for (wait4's rusage).
    await runToEnd({ ...cmd, argv: [GNU_TIME, '-f', '%M %U %S', '-o', out, ...cmd.argv] }, onStart);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const [kib, user, sys] = ((await readFile(out, 'utf8')).trim().split('\n').pop() ?? '').split(' ').map(Number);
    const cpu = (user ?? NaN) + (sys ?? NaN);
    return { seconds, peakRssMiB: Number.isFinite(kib) ? (kib as number) / 1024 : undefined, cpuSeconds: Number.isFinite(cpu) ? cpu : undefined, rssMethod: 'gnu-time' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureBySampling(cmd: CommandSpec, onStart?: (pid: number) => () => void): Promise<Measurement> {
  let peakKiB = 0;
  const started = process.hrtime.bigint();
  await runToEnd(cmd, (pid) => {
    const timer = setInterval(() => {
      void treeHighWaterKiB(pid).then((kib) => (peakKiB = Math.max(peakKiB, kib)));
    }, 50);
    const stopOther = onStart?.(pid) ?? (() => {});
    return () => {
      clearInterval(timer);
      stopOther();
    };
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, peakRssMiB: peakKiB > 0 ? peakKiB / 1024 : undefined, cpuSeconds: undefined, rssMethod: 'proc-sampling' };
}

/** Largest VmHWM (peak RSS) of pid and its descendants, in KiB. */
async function treeHighWaterKiB(root: number): Promise<number> {
  const parents = new Map<number, number>();
  const hwm = new Map<number, number>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const ppid = /^PPid:\s+(\d+)/m.exec(status);
    const peak = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (ppid) parents.set(Number(entry), Number(ppid[1]));
    if (peak) hwm.set(Number(entry), Number(peak[1]));
  }
  let max = 0;
  for (const [pid, kib] of hwm) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) {
      if (p === root) {
        max = Math.max(max, kib);
        break;
      }
    }
  }
  return max;
}

/** Runs argv to completion; rejects with its last output lines when it fails. */
export function runToEnd(cmd: CommandSpec, onStart?: (pid: number) => () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = cmd.argv;
    if (!file) return reject(new Error('empty command'));
    const child = spawn(file, args, { env: cmd.env, cwd: cmd.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const stop = child.pid !== undefined && onStart ? onStart(child.pid) : () => {};
    child.on('error', (err) => {
      stop();
      reject(err);
    });
    child.on('close', (code) => {
      stop();
      if (code === 0) resolve();
      else reject(new CommandFailed(cmd.argv, code ?? -1, output));
    });
  });
}

const CLOCK_TICKS = 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

/**
 * CPU seconds (user + system) used so far by this process's direct children that are still running:
 * the local servers (s3rver, docker-registry). Read before and after a command, the difference is
 * what the servers spent serving it. 0 where /proc is missing.
 */
export async function serverCpuSeconds(): Promise<number> {
  let ticks = 0;
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the command name (which may hold spaces): state, ppid, ... utime is the 14th, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) !== process.pid) continue;
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / CLOCK_TICKS;
}
