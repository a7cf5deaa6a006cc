// Progress of a long transfer as a log line at a steady interval: bytes done, total, rate and ETA.
import type { Logger } from '../log.js';

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly label: string,
    private total: number,
    intervalSeconds: number,
  ) {
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

  snapshot(): { bytesDone: number; bytesTotal: number; rateMBps: number; etaSeconds: number | null; percent: number | null } {
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const rate = this.done / seconds;
    const remaining = this.total - this.done;
    return {
      bytesDone: this.done,
      bytesTotal: this.total,
      rateMBps: Math.round((rate / 1e6) * 10) / 10,
      etaSeconds: rate > 0 && this.total > 0 ? Math.max(0, Math.round(remaining / rate)) : null,
      percent: this.total > 0 ? Math.round((this.done / this.total) * 1000) / 10 : null,
    };
  }

  report(): void {
    this.log.info({ progress: this.label, ...this.snapshot() }, `${this.label}: ${formatBytes(this.done)} of ${formatBytes(this.total)}`);
  }

  finish(): { bytes: number; seconds: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return { bytes: this.done, seconds: (Date.now() - this.started) / 1000 };
  }
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
