// Answers and faults of plain HTTP(S) downloads (web files, the Hugging Face Hub) as ModelSyncErrors
// that name what was fetched (the transient classification is net's, plus a body cut short), and
// the connection pool those downloads share.
import { ModelSyncError } from '../errors.js';
import { AgentPool, type NetworkSettings } from '../net/policy.js';
import type { TlsTrust } from '../net/tls-trust.js';
import type { HttpResponse } from '../net/request.js';
import { isTransient, noteRetryAfter, TRANSIENT_HTTP_STATUS } from '../net/retry.js';
import { SizeMismatchError } from './session.js';

/** Runs `fn` with a pool for web downloads (TLS verified against `trust`, the step's timeout), closed afterwards. */
export async function withWebPool<T>(network: NetworkSettings, trust: TlsTrust | undefined, fn: (pool: AgentPool) => Promise<T>): Promise<T> {
  const pool = webPool(network, trust);
  try {
    return await fn(pool);
  } finally {
    pool.close();
  }
}

/** The pool of web downloads, for a caller that keeps it open beyond one call (it closes it). */
export function webPool(network: NetworkSettings, trust: TlsTrust | undefined): AgentPool {
  return new AgentPool({ tlsVerify: true, trust, maxSockets: 32, idleTimeoutMs: network.idleTimeoutMs, proxy: network.proxy });
}

/** A ModelSyncError for an unexpected HTTP status; 408/429/5xx are transient (retried by callers, after any Retry-After). */
export function statusError(status: number, what: string, headers: HttpResponse['headers'] = {}): ModelSyncError {
  if (status === 401 || status === 403) return new ModelSyncError('auth', `${what}: access refused (HTTP ${status})`);
  if (status === 404 || status === 410) return new ModelSyncError('notFound', `${what}: not found (HTTP ${status})`);
  if (TRANSIENT_HTTP_STATUS.has(status)) return noteRetryAfter(new ModelSyncError('transient', `${what}: server error (HTTP ${status})`), headers);
  return new ModelSyncError('internal', `${what}: unexpected HTTP status ${status}`);
}

/** Faults a second try can fix: net's list, and a body that ended short of its Content-Length. */
export function isTransientHttpError(err: unknown): boolean {
  return err instanceof SizeMismatchError || isTransient(err);
}

/** A network fault that outlived the retries, as a ModelSyncError naming the URL. */
export function networkError(err: unknown, what: string): ModelSyncError {
  if (err instanceof ModelSyncError) return err;
  const e = err as { code?: string; message?: string };
  const kind = isTransientHttpError(err) ? 'transient' : 'internal';
  return new ModelSyncError(kind, `${what}: ${e?.code ? `${e.code} ` : ''}${e?.message ?? String(err)}`.trim(), { cause: err });
}
