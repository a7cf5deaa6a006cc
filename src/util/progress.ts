// Progress of a long transfer as a log line at a steady interval, one line a person reads at a glance:
//   fetch s3://b/m: 42% 1.3 GiB of 3.1 GiB, 212 MB/s, ETA 9s
// and fields for machines: percent, bytesPerSecond, etaSeconds (null when the total is unknown).
import type { Logger } from '../log.js';

export interface ProgressSnapshot {
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
  /** MB (10^6 bytes) per second, one decimal: the older field, kept for readers of the JSON log. */
  rateMBps: number;
  etaSeconds: number | null;
  percent: number | null;
}

export class Progress {
  private done = 0;
  private readonly started: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly label: string,
    private total: number,
    intervalSeconds: number,
    /** Milliseconds now; a test passes its own clock. */
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    if (intervalSeconds > 0) {
      this.timer = setInterval(() => this.report(), intervalSeconds * 1000);
      this.timer.unref();
    }
  }

  add(bytes: number): void {
    this.done += bytes;
  }

  /** For totals learned while listing (S3 pages, archive entries). */
  addTotal(bytes: number): void {
    this.total += bytes;
  }

  get bytesDone(): number {
    return this.done;
  }

  snapshot(): ProgressSnapshot {
    const seconds = Math.max((this.now() - this.started) / 1000, 0.001);
    const rate = this.done / seconds;
    const remaining = this.total - this.done;
    return {
      bytesDone: this.done,
      bytesTotal: this.total,
      bytesPerSecond: Math.round(rate),
      rateMBps: Math.round((rate / 1e6) * 10) / 10,
      etaSeconds: rate > 0 && this.total > 0 ? Math.max(0, Math.round(remaining / rate)) : null,
      percent: this.total > 0 ? Math.round((this.done / this.total) * 1000) / 10 : null,
    };
  }

  report(): void {
    const snapshot = this.snapshot();
    this.log.info({ progress: this.label, ...snapshot }, `${this.label}: ${describeProgress(snapshot)}`);
  }

  finish(): { bytes: number; seconds: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return { bytes: this.done, seconds: (this.now() - this.started) / 1000 };
  }
}

/** `42% 1.3 GiB of 3.1 GiB, 212 MB/s, ETA 9s`; without a known total only bytes done and the rate. */
export function describeProgress(s: ProgressSnapshot): string {
  const rate = formatRate(s.bytesPerSecond);
  if (s.percent === null) return `${formatBytes(s.bytesDone)}, ${rate}`;
  const eta = s.etaSeconds === null ? '' : `, ETA ${formatDuration(s.etaSeconds)}`;
  return `${Math.floor(s.percent)}% ${formatBytes(s.bytesDone)} of ${formatBytes(s.bytesTotal)}, ${rate}${eta}`;
}

/** Decimal units, as network rates are usually given: 212 MB/s. */
export function formatRate(bytesPerSecond: number): string {
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let v = bytesPerSecond;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** 9s, 4m05s, 2h03m. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A step summary's rate: MB (10^6 bytes) per second, one decimal; undefined for no time. */
export function megabytesPerSecond(bytes: number, seconds: number): number | undefined {
  return seconds > 0 ? Math.round((bytes / 1e6 / seconds) * 10) / 10 : undefined;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
