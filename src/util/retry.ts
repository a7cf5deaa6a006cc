// Retries with exponential backoff and jitter, for faults that a second try can fix.
import type { Logger } from '../log.js';

export interface RetryOptions {
  /** Attempts in all, including the first. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  isTransient: (err: unknown) => boolean;
  log?: Logger;
  what: string;
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !opts.isTransient(err)) throw err;
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      opts.log?.warn({ attempt, delayMs: Math.round(delay), err: (err as Error).message }, `${opts.what}: transient failure, retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Network-level faults (connection refused/reset, timeouts) that deserve another try. */
export function isTransientNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: string }).code;
    if (code && TRANSIENT_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export const TRANSIENT_HTTP_STATUS = new Set([408, 429, 500, 502, 503, 504]);
