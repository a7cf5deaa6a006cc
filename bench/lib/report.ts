// The benchmark's tables (stdout) and JSON record (bench/results/bench-<time>.json and latest.json).
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const OURS = 'model-sync';

export type Phase = 'fetch' | 'package' | 'push' | 'all';
export type Profile = 'large' | 'many-files';

export interface Row {
  profile: Profile;
  phase: Phase;
  tool: string;
  /** ours: model-sync; peer: another tool doing the same job; reference: a floor the targets compare to (one openssl pass, one curl PUT per blob). */
  role: 'ours' | 'peer' | 'reference';
  /** Exact command (argv) that was timed. */
  command: string[];
  status: 'ok' | 'failed' | 'skipped';
  seconds?: number;
  mibPerSecond?: number;
  /** User + system CPU seconds of the command and its children (servers not included). */
  cpuSeconds?: number;
  cpuSecondsPerGiB?: number;
  /** CPU seconds per GiB the local servers (s3rver, docker-registry) spent while the command ran. */
  serverCpuSecondsPerGiB?: number;
  peakRssMiB?: number;
  /** Largest size of the tool's working folders seen while it ran (sampled), where it matters (`all`). */
  workspacePeakMiB?: number;
  /** Throughput divided by the best peer's in the same profile and phase (>1: faster than every peer). */
  vsBestPeer?: number;
  /** Throughput divided by the reference row's in the same profile and phase. */
  vsReference?: number;
  note?: string;
}

export function addRatios(rows: Row[]): void {
  const groups = new Set(rows.map((r) => `${r.profile}/${r.phase}`));
  for (const g of groups) {
    const inGroup = rows.filter((r) => `${r.profile}/${r.phase}` === g && r.status === 'ok' && r.mibPerSecond);
    const best = Math.max(0, ...inGroup.filter((r) => r.role === 'peer').map((r) => r.mibPerSecond ?? 0));
    const reference = inGroup.find((r) => r.role === 'reference')?.mibPerSecond ?? 0;
    for (const r of inGroup) {
      if (r.role === 'reference') continue;
      if (best > 0) r.vsBestPeer = (r.mibPerSecond ?? 0) / best;
      if (reference > 0) r.vsReference = (r.mibPerSecond ?? 0) / reference;
    }
  }
}

export interface CostRatio {
  phase: Phase;
  tool: string;
  /** Wall seconds per GiB in the many-files profile divided by the large profile's. */
  secondsPerGiB: number;
  /** CPU seconds per GiB, the same way. */
  cpuPerGiB?: number;
}

/** Per-byte cost of the many-files profile relative to the large one, per phase and tool. */
export function costRatios(rows: Row[]): CostRatio[] {
  const out: CostRatio[] = [];
  const ok = rows.filter((r) => r.status === 'ok' && r.mibPerSecond);
  for (const many of ok.filter((r) => r.profile === 'many-files')) {
    const large = ok.find((r) => r.profile === 'large' && r.phase === many.phase && r.tool === many.tool);
    if (!large?.mibPerSecond || !many.mibPerSecond) continue;
    const ratio: CostRatio = { phase: many.phase, tool: many.tool, secondsPerGiB: large.mibPerSecond / many.mibPerSecond };
    if (many.cpuSecondsPerGiB !== undefined && large.cpuSecondsPerGiB) ratio.cpuPerGiB = many.cpuSecondsPerGiB / large.cpuSecondsPerGiB;
    out.push(ratio);
  }
  return out;
}

function fixed(n: number | undefined, digits: number): string {
  return n === undefined ? '-' : n.toFixed(digits);
}

function render(head: string[], body: string[][], freeLast: boolean): string {
  const last = head.length - 1;
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (freeLast && i === last ? 0 : (b[i] ?? '').length))));
  const line = (cells: string[]) => cells.map((c, i) => (freeLast && i === last ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

export function table(rows: Row[]): string {
  const head = ['profile', 'phase', 'tool', 'seconds', 'MiB/s', 'CPU s/GiB', 'server CPU s/GiB', 'peak RSS MiB', 'workspace MiB', 'x best peer', 'x reference', 'status'];
  const body = rows.map((r) => [
    r.profile,
    r.phase,
    r.role === 'reference' ? `(ref) ${r.tool}` : r.tool,
    fixed(r.seconds, 2),
    fixed(r.mibPerSecond, 0),
    fixed(r.cpuSecondsPerGiB, 2),
    fixed(r.serverCpuSecondsPerGiB, 2),
    fixed(r.peakRssMiB, 0),
    fixed(r.workspacePeakMiB, 0),
    fixed(r.vsBestPeer, 2),
    fixed(r.vsReference, 2),
    r.status === 'ok' ? 'ok' : `${r.status}: ${r.note ?? ''}`,
  ]);
  return render(head, body, true);
}

export function costTable(ratios: CostRatio[]): string {
  const head = ['phase', 'tool', 'x wall s/GiB', 'x CPU s/GiB'];
  return render(head, ratios.map((c) => [c.phase, c.tool, fixed(c.secondsPerGiB, 2), fixed(c.cpuPerGiB, 2)]), false);
}

/** Writes bench-<time>.json and the same bytes as latest.json; returns the first. */
export async function writeJson(dir: string, record: unknown): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(record, null, 2) + '\n');
  await copyFile(file, path.join(dir, 'latest.json'));
  return file;
}
