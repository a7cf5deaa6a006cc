// The bench's scale-out group (issue 15): `plan --parts N`, then N `push --part I/N` processes at
// once (each with a workspace of its own, as pods on different nodes would have), then `assemble`,
// into a registry where nothing is yet. Each step is timed on its own; the assembled image digest
// must equal the one the streaming `all` produced from the same data and base.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CommandFailed, measure, serverCpuSeconds, type CommandSpec, type Measurement } from './measure.js';
import type { Profile, Row, ScaleOutDetail } from './report.js';

const GIB = 1024 ** 3;

export const scaleOutTool = (parts: number): string => `plan --parts ${parts} + push --part x${parts} + assemble`;

/** The part counts of BENCH_PARTS ("1,2,4"): positive integers, in the order given. */
export function parsePartCounts(text: string): number[] {
  const counts = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!counts.length || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error(`BENCH_PARTS must be a comma-separated list of part counts from 1 to 64, not ${text}`);
  return counts;
}

export interface ScaleOutOptions {
  profile: Profile;
  parts: number;
  dataBytes: number;
  /** Folder for the group's workspaces (removed at the end). */
  dir: string;
  /** Source, destination and base image settings shared by the three steps. */
  env: Record<string, string>;
  /** Builds the command of one model-sync step (its env: the step's own settings on top of `env`). */
  command: (step: string, env: Record<string, string>) => CommandSpec;
  /** Checks the pushed image exists in the registry; a problem or undefined. */
  pushed: () => Promise<string | undefined>;
  /** The streaming `all` row of the same run and data: the time and digest compared to. */
  all: Row | undefined;
  /** Samples the workspaces while a step runs (the bench's workspace sampler). */
  sampler: (dirs: string[]) => { onStart: () => () => void; peak: () => number };
}

/** A workspace's result file, trimmed; undefined when the step wrote none. */
async function result(workspace: string, name: string): Promise<string | undefined> {
  return (await readFile(path.join(workspace, '.model-sync', 'results', name), 'utf8').catch(() => undefined))?.trim();
}

/** The last line of a command's output; of a JSON log line, its message. */
function lastMessage(text: string): string {
  const line = text.trim().split('\n').filter(Boolean).pop() ?? '';
  try {
    const entry = JSON.parse(line) as { msg?: unknown };
    if (typeof entry.msg === 'string') return entry.msg;
  } catch {
    // not a log line
  }
  return line;
}

/** Plan's `parts` result: a JSON list of I/N selectors. */
function partSelectors(text: string | undefined, requested: number): string[] {
  if (text === undefined) throw new Error('plan wrote no parts result');
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list) || !list.length || list.some((s) => typeof s !== 'string' || !/^\d+\/\d+$/.test(s))) throw new Error(`plan's parts result is not a list of I/N: ${text.slice(0, 100)}`);
  const n = Number((list[0] as string).split('/')[1]);
  if (n > requested) throw new Error(`plan listed parts of ${n}, more than the ${requested} asked for`);
  return list as string[];
}

/** Runs the group once for `opts.parts`; failures become the row's status, never exceptions. */
export async function runScaleOut(opts: ScaleOutOptions): Promise<Row> {
  const { profile, parts, dir } = opts;
  const planWs = path.join(dir, 'plan');
  const assembleWs = path.join(dir, 'assemble');
  const planCmd = opts.command('plan', { ...opts.env, MODEL_SYNC_STORAGE_PATH: planWs, MODEL_SYNC_PARTS: String(parts), TERMINATION_MESSAGE_PATH: path.join(dir, 'termination-plan') });
  const row: Row = { profile, phase: 'scale-out', tool: scaleOutTool(parts), role: 'ours', command: planCmd.argv, status: 'ok' };
  const detail: ScaleOutDetail = { requestedParts: parts, parts: [], partSeconds: [], partPeakRssMiB: [], partCpuSeconds: [] };
  row.scaleOut = detail;
  const partWs = (i: number) => path.join(dir, `part-${i}`);
  let stage = 'plan';
  try {
    const serverCpuBefore = await serverCpuSeconds();
    const planM = await measure(planCmd);
    detail.planSeconds = planM.seconds;
    detail.parts = partSelectors(await result(planWs, 'parts'), parts);

    stage = 'parts';
    const workspaces = detail.parts.map((_, i) => partWs(i + 1));
    const sampler = opts.sampler(workspaces);
    const stopSampling = sampler.onStart();
    const started = process.hrtime.bigint();
    // allSettled: a failed part must not leave the others running while the registry is stopped.
    const settled = await Promise.allSettled(
      detail.parts.map((selector, i) => measure(opts.command('push', { ...opts.env, MODEL_SYNC_STORAGE_PATH: partWs(i + 1), MODEL_SYNC_PART: selector, TERMINATION_MESSAGE_PATH: path.join(dir, `termination-part-${i + 1}`) }))),
    ).finally(stopSampling);
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0) throw Object.assign(new Error('part failed'), { part: detail.parts[failed], cause: (settled[failed] as PromiseRejectedResult).reason });
    const partMs = settled.map((s) => (s as PromiseFulfilledResult<Measurement>).value);
    detail.partsSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    detail.partSeconds = partMs.map((m) => m.seconds);
    detail.partPeakRssMiB = partMs.map((m) => m.peakRssMiB ?? NaN);
    detail.partCpuSeconds = partMs.map((m) => m.cpuSeconds ?? NaN);
    detail.partsPeakRssSumMiB = partMs.every((m) => m.peakRssMiB !== undefined) ? partMs.reduce((s, m) => s + (m.peakRssMiB ?? 0), 0) : undefined;
    row.workspacePeakMiB = sampler.peak() / 1024 / 1024;

    stage = 'assemble';
    const assembleM = await measure(opts.command('assemble', { ...opts.env, MODEL_SYNC_STORAGE_PATH: assembleWs, TERMINATION_MESSAGE_PATH: path.join(dir, 'termination-assemble') }));
    detail.assembleSeconds = assembleM.seconds;
    row.serverCpuSecondsPerGiB = ((await serverCpuSeconds()) - serverCpuBefore) / (opts.dataBytes / GIB);

    const all = [planM, ...partMs, assembleM];
    row.seconds = detail.planSeconds + detail.partsSeconds + detail.assembleSeconds;
    row.mibPerSecond = opts.dataBytes / 1024 / 1024 / row.seconds;
    // The column's meaning stays "the largest single process"; the parts' sum is in the detail.
    row.peakRssMiB = all.every((m) => m.peakRssMiB !== undefined) ? Math.max(...all.map((m) => m.peakRssMiB ?? 0)) : undefined;
    if (all.every((m) => m.cpuSeconds !== undefined)) {
      row.cpuSeconds = all.reduce((s, m) => s + (m.cpuSeconds ?? 0), 0);
      row.cpuSecondsPerGiB = row.cpuSeconds / (opts.dataBytes / GIB);
    }
    if (opts.all?.status === 'ok' && opts.all.seconds) row.vsReference = opts.all.seconds / row.seconds;

    stage = 'check';
    detail.imageDigest = await result(assembleWs, 'image-digest');
    detail.allDigest = opts.all?.status === 'ok' ? opts.all.imageDigest : undefined;
    const problem = await opts.pushed();
    if (problem) Object.assign(row, { status: 'failed', note: problem });
    else if (!detail.imageDigest) Object.assign(row, { status: 'failed', note: 'assemble wrote no image-digest result' });
    else if (detail.allDigest) {
      detail.digestMatches = detail.imageDigest === detail.allDigest;
      if (!detail.digestMatches) Object.assign(row, { status: 'failed', note: `image digest ${detail.imageDigest} differs from all's ${detail.allDigest}` });
    } else row.note = 'digest not compared: no streaming all row with a digest in this run';
  } catch (err) {
    const part = (err as { part?: string }).part;
    const cause = part ? (err as { cause?: unknown }).cause : err;
    const text = cause instanceof CommandFailed ? cause.output : String(cause instanceof Error ? cause.message : cause);
    Object.assign(row, { status: 'failed', note: `${part ? `part ${part}` : stage}: ${lastMessage(text).slice(0, 300)}` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return row;
}
