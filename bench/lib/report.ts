// The benchmark's table (stdout) and JSON record (bench/results/).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const OURS = 'model-sync';

export interface Row {
  phase: 'fetch' | 'package' | 'push';
  tool: string;
  /** Exact command (argv) that was timed. */
  command: string[];
  status: 'ok' | 'failed' | 'skipped';
  seconds?: number;
  mibPerSecond?: number;
  peakRssMiB?: number;
  /** Throughput divided by the best peer's in the same phase (>1: faster than every peer). */
  vsBestPeer?: number;
  note?: string;
}

export function addRatios(rows: Row[]): void {
  for (const phase of new Set(rows.map((r) => r.phase))) {
    const inPhase = rows.filter((r) => r.phase === phase && r.status === 'ok' && r.mibPerSecond);
    const best = Math.max(0, ...inPhase.filter((r) => r.tool !== OURS).map((r) => r.mibPerSecond ?? 0));
    if (best > 0) for (const r of inPhase) r.vsBestPeer = (r.mibPerSecond ?? 0) / best;
  }
}

function fixed(n: number | undefined, digits: number): string {
  return n === undefined ? '-' : n.toFixed(digits);
}

export function table(rows: Row[]): string {
  const head = ['phase', 'tool', 'seconds', 'MiB/s', 'peak RSS MiB', 'x best peer', 'status'];
  const body = rows.map((r) => [
    r.phase,
    r.tool,
    fixed(r.seconds, 2),
    fixed(r.mibPerSecond, 0),
    fixed(r.peakRssMiB, 0),
    fixed(r.vsBestPeer, 2),
    r.status === 'ok' ? 'ok' : `${r.status}: ${r.note ?? ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (i === 6 ? 0 : (b[i] ?? '').length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 6 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

export async function writeJson(dir: string, record: unknown): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(record, null, 2) + '\n');
  return file;
}
