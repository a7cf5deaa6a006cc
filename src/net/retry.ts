// The one retry policy: bounded attempts, exponential backoff with jitter, Retry-After when the
// server sent one, and the one list of faults that a second try can fix.
import type { IncomingHttpHeaders } from 'node:http';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';

export interface RetryPolicy {
  /** Attempts in all, including the first (default 5). */
  attempts?: number;
  /** Backoff before the second attempt, doubling after that (default 500 ms). */
  baseDelayMs?: number;
  /** Cap on any delay, Retry-After included (default 15 s). */
  maxDelayMs?: number;
  /** `equal` waits between half and all of the backoff, `full` anywhere from 0 to all of it (default equal). */
  jitter?: 'equal' | 'full';
}

export interface RetryOptions extends RetryPolicy {
  /** Which failures to try again (default: isTransient). */
  isTransient?: (err: unknown) => boolean;
  log?: Logger;
  what: string;
}

export const RETRY_DEFAULTS = { attempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 } as const;

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const transient = opts.isTransient ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const delay = transient(err) ? retryDelay(opts, attempt, retryAfterOf(err)) : undefined;
      if (delay === undefined) throw err;
      opts.log?.warn({ attempt, delayMs: Math.round(delay), err: (err as Error).message }, `${opts.what}: transient failure, retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * The wait after `failed` attempts, or undefined when the attempts are used up. A Retry-After
 * (ms) replaces the backoff, capped at the maximum delay.
 */
export function retryDelay(policy: RetryPolicy, failed: number, retryAfterMs?: number): number | undefined {
  if (failed >= (policy.attempts ?? RETRY_DEFAULTS.attempts)) return undefined;
  const max = policy.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
  if (retryAfterMs !== undefined) return Math.min(max, Math.max(0, retryAfterMs));
  const backoff = Math.min(max, (policy.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs) * 2 ** (failed - 1));
  return policy.jitter === 'full' ? backoff * Math.random() : backoff * (0.5 + Math.random() / 2);
}

export const TRANSIENT_HTTP_STATUS = new Set([408, 429, 500, 502, 503, 504]);

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Network faults (refused, reset, timeouts, DNS, a body cut short), searched through `cause`. */
export function isTransientNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const { code, message } = e as { code?: string; message?: string };
    if ((code && TRANSIENT_CODES.has(code)) || message === 'aborted') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The shared classification: an error carrying an HTTP `status` is transient when the status is
 * on the list; a ModelSyncError as its kind says; anything else when it is a network fault.
 */
export function isTransient(err: unknown): boolean {
  const status = (err as { status?: unknown } | undefined)?.status;
  if (typeof status === 'number') return TRANSIENT_HTTP_STATUS.has(status);
  if (err instanceof ModelSyncError) return err.kind === 'transient';
  return isTransientNetworkError(err);
}

/** Retry-After as a delay in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Gives `err` the Retry-After of the answer it stands for, so that withRetry waits that long. */
export function noteRetryAfter<E extends Error>(err: E, headers: IncomingHttpHeaders): E {
  const raw = headers['retry-after'];
  const ms = parseRetryAfter(Array.isArray(raw) ? raw[0] : raw);
  if (ms !== undefined) Object.assign(err, { retryAfterMs: ms });
  return err;
}

function retryAfterOf(err: unknown): number | undefined {
  const ms = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof ms === 'number' ? ms : undefined;
}
