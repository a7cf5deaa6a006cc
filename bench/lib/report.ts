// The benchmark's tables (stdout) and JSON record (bench/results/bench-<time>.json and latest.json).
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const OURS = 'model-sync';

export type Phase = 'fetch' | 'package' | 'push' | 'all' | 'resume' | 'scale-out';
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
  /** resume rows: the fraction of the data set on disk when the first run was killed, and the fraction the second run moved again. */
  killedAt?: number;
  movedAgain?: number;
  /** `all` and scale-out rows: the digest of the image pushed (the image-digest result). */
  imageDigest?: string;
  /** scale-out rows: each step's figures (the row's seconds are plan + parts + assemble). */
  scaleOut?: ScaleOutDetail;
  note?: string;
}

export interface ScaleOutDetail {
  /** N of `plan --parts N`. */
  requestedParts: number;
  /** The parts plan listed (fewer than N when the model has fewer layers). */
  parts: string[];
  planSeconds?: number;
  /** Wall time from starting the parts together to the end of the last one. */
  partsSeconds?: number;
  assembleSeconds?: number;
  partSeconds: number[];
  partPeakRssMiB: number[];
  partCpuSeconds: number[];
  /** The parts' peak RSS added up: what N pods on one node would need. */
  partsPeakRssSumMiB?: number;
  imageDigest?: string;
  /** The streaming `all`'s digest in the same run (undefined when it did not run or failed). */
  allDigest?: string;
  digestMatches?: boolean;
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

export interface Target {
  target: string;
  measured: string;
  met: 'yes' | 'no' | 'n/a';
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b ? a / b : undefined);

/** Issue 14's item 6, each target checked against this run's rows (ratios within the run only). */
export function targets(rows: Row[], ratios: CostRatio[], largeMiB: number): Target[] {
  const find = (profile: Profile, phase: Phase, tool: string) => rows.find((r) => r.profile === profile && r.phase === phase && r.tool === tool && r.status === 'ok');
  const out: Target[] = [];
  const yes = (b: boolean | undefined): Target['met'] => (b === undefined ? 'n/a' : b ? 'yes' : 'no');
  const f = (n: number | undefined, d = 2) => (n === undefined ? '-' : n.toFixed(d));

  const ours = find('large', 'fetch', OURS);
  const rclone = find('large', 'fetch', 'rclone copy');
  const fr = ratio(ours?.mibPerSecond, rclone?.mibPerSecond);
  out.push({
    target: 'fetch >= 1.2x rclone, CPU/GiB <= rclone',
    measured: `${f(fr)}x (${f(ours?.mibPerSecond, 0)} vs ${f(rclone?.mibPerSecond, 0)} MiB/s); CPU ${f(ours?.cpuSecondsPerGiB)} vs ${f(rclone?.cpuSecondsPerGiB)} s/GiB`,
    met: yes(fr === undefined ? undefined : fr >= 1.2 && (ours?.cpuSecondsPerGiB ?? Infinity) <= (rclone?.cpuSecondsPerGiB ?? 0)),
  });

  const pk = find('large', 'package', OURS);
  const ossl = find('large', 'package', 'openssl dgst -sha256');
  const pr = ratio(pk?.mibPerSecond, ossl?.mibPerSecond);
  out.push({ target: 'package >= 0.85x one openssl pass', measured: `${f(pr)}x (${f(pk?.mibPerSecond, 0)} vs ${f(ossl?.mibPerSecond, 0)} MiB/s)`, met: yes(pr === undefined ? undefined : pr >= 0.85) });

  const push = find('large', 'push', OURS);
  const skopeo = find('large', 'push', 'skopeo copy --preserve-digests');
  const curl = find('large', 'push', 'curl POST+PUT per blob');
  const bars = [skopeo?.mibPerSecond && 1.2 * skopeo.mibPerSecond, curl?.mibPerSecond && 0.95 * curl.mibPerSecond].filter((n): n is number => !!n);
  const bar = bars.length ? Math.min(...bars) : undefined;
  out.push({
    target: 'push >= 1.2x skopeo or >= 0.95x curl, whichever is lower',
    measured: `${f(push?.mibPerSecond, 0)} MiB/s vs bar ${f(bar, 0)} (${f(ratio(push?.mibPerSecond, skopeo?.mibPerSecond))}x skopeo, ${f(ratio(push?.mibPerSecond, curl?.mibPerSecond))}x curl)`,
    met: yes(bar === undefined || push?.mibPerSecond === undefined ? undefined : push.mibPerSecond >= bar),
  });

  const stream = rows.find((r) => r.profile === 'large' && r.phase === 'all' && r.tool === STREAM_TOOL);
  const chain = find('large', 'all', CHAIN_TOOL);
  if (!stream || stream.status !== 'ok') {
    out.push({ target: 'streaming all >= 2x the chain, workspace <= 64 MiB', measured: stream?.note ?? 'not available', met: 'n/a' });
  } else {
    const sr = ratio(chain?.seconds, stream.seconds);
    out.push({
      target: 'streaming all >= 2x the chain, workspace <= 64 MiB',
      measured: `${f(sr)}x (wall ${f(stream.seconds)} vs ${f(chain?.seconds)} s); workspace ${f(stream.workspacePeakMiB, 0)} MiB`,
      met: yes(sr === undefined ? undefined : sr >= 2 && (stream.workspacePeakMiB ?? Infinity) <= 64),
    });
  }

  const mine = ratios.filter((c) => c.tool === OURS);
  out.push({
    target: 'many-files per-byte cost <= 2x large (model-sync)',
    measured: mine.length ? mine.map((c) => `${c.phase} ${f(c.secondsPerGiB)}`).join(', ') : 'not run (needs both profiles)',
    met: mine.length ? (mine.every((c) => c.secondsPerGiB <= 2) ? 'yes' : 'no') : 'n/a',
  });

  // Issue 14's phases only: the scale-out rows came later and have their own table.
  const rss = rows.filter((r) => r.role === 'ours' && r.status === 'ok' && r.peakRssMiB !== undefined && r.profile === 'large' && r.phase !== 'scale-out');
  const peak = rss.length ? Math.max(...rss.map((r) => r.peakRssMiB ?? 0)) : undefined;
  out.push({
    target: `peak RSS <= 200 MiB at 2 and 8 GiB (this run: ${largeMiB} MiB)`,
    measured: rss.length ? `largest ${f(peak, 0)} MiB (${rss.map((r) => `${r.phase}${r.tool === OURS ? '' : ' ' + r.tool.replace(OURS, '').trim()} ${f(r.peakRssMiB, 0)}`).join(', ')})` : '-',
    met: yes(peak === undefined ? undefined : peak <= 200),
  });

  const resume = rows.find((r) => r.phase === 'resume' && r.role === 'ours');
  out.push({
    target: 'resumed fetch after kill -9 at ~50% moves <= 60% of the bytes',
    measured: resume?.status === 'ok' ? `killed at ${f((resume.killedAt ?? 0) * 100, 0)}%, moved ${f((resume.movedAgain ?? 0) * 100, 0)}% again` : (resume?.note ?? 'not run'),
    met: resume?.status === 'ok' ? yes((resume.movedAgain ?? 1) <= 0.6) : 'n/a',
  });
  return out;
}

export const STREAM_TOOL = `${OURS} --stream true`;
export const CHAIN_TOOL = 'rclone -> tar+sha256sum+jq -> skopeo';

export function targetTable(list: Target[]): string {
  return render(['target', 'met', 'this run'], list.map((t) => [t.target, t.met, t.measured]), true);
}

/**
 * The scale-out group beside the streaming `all` of the same run: each step's wall time, the
 * ratio to `all` (its seconds / the group's), the parts' peak RSS added up and the digest check.
 */
export function scaleOutTable(rows: Row[]): string {
  const head = ['parts', 'plan s', 'parts s', 'assemble s', 'total s', 'MiB/s', 'x all', 'CPU s/GiB', 'parts peak RSS sum MiB', 'largest part RSS MiB', 'digest = all', 'status'];
  const body: string[][] = [];
  const all = rows.find((r) => r.profile === 'large' && r.phase === 'all' && r.tool === STREAM_TOOL);
  if (all) {
    body.push(['all --stream true', '-', '-', '-', fixed(all.seconds, 2), fixed(all.mibPerSecond, 0), all.status === 'ok' ? '1.00' : '-', fixed(all.cpuSecondsPerGiB, 2), '-', fixed(all.peakRssMiB, 0), all.imageDigest ? all.imageDigest.slice(0, 19) : '-', all.status === 'ok' ? 'ok' : `${all.status}: ${all.note ?? ''}`]);
  }
  for (const r of rows.filter((x) => x.phase === 'scale-out')) {
    const d = r.scaleOut;
    const listed = d && d.parts.length && d.parts.length !== d.requestedParts ? `${d.requestedParts} (plan: ${d.parts.length})` : String(d?.requestedParts ?? '-');
    const rss = d?.partPeakRssMiB.filter(Number.isFinite) ?? [];
    body.push([
      listed,
      fixed(d?.planSeconds, 2),
      fixed(d?.partsSeconds, 2),
      fixed(d?.assembleSeconds, 2),
      fixed(r.seconds, 2),
      fixed(r.mibPerSecond, 0),
      fixed(r.vsReference, 2),
      fixed(r.cpuSecondsPerGiB, 2),
      fixed(d?.partsPeakRssSumMiB, 0),
      rss.length ? fixed(Math.max(...rss), 0) : '-',
      d?.digestMatches === undefined ? '-' : d.digestMatches ? 'yes' : 'NO',
      r.status === 'ok' ? (r.note ? `ok: ${r.note}` : 'ok') : `${r.status}: ${r.note ?? ''}`,
    ]);
  }
  return render(head, body, true);
}
