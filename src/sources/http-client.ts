// A small HTTP(S) GET client on node:http/https: keep-alive agents, bounded redirects, an idle
// timeout, and credentials that never travel further than the origin they were given for.
// URLs are logged and reported without user info and without query (tokens live there).
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { addCredentialPair, addSecret } from '../util/redact.js';
import { ModelSyncError } from '../errors.js';
import { isTransientNetworkError, TRANSIENT_HTTP_STATUS } from '../util/retry.js';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 32 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 32 }),
};

export const MAX_REDIRECTS = 10;
/** A connection that delivers nothing for this long is given up (and retried). */
export const IDLE_TIMEOUT_MS = 60_000;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
}

/** The URL as it may be shown: scheme, host, port and path; no user info, no query. */
export function displayUrl(url: URL | string): string {
  const u = new URL(url.toString());
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Registers the secrets a URL carries (user:password, query values that look like tokens) and
 * returns the URL without user info plus the Authorization header made from it.
 */
export function splitUrlCredentials(url: URL): { url: URL; headers: Record<string, string> } {
  const clean = new URL(url.toString());
  const headers: Record<string, string> = {};
  if (clean.username || clean.password) {
    const user = decodeURIComponent(clean.username);
    const password = decodeURIComponent(clean.password);
    addCredentialPair(user, password);
    addSecret(password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    addSecret(headers.authorization);
    clean.username = '';
    clean.password = '';
  }
  if (clean.search) {
    addSecret(clean.search.slice(1));
    for (const value of clean.searchParams.values()) if (value.length >= 8) addSecret(value);
  }
  return { url: clean, headers };
}

export interface GetOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  maxRedirects?: number;
  timeoutMs?: number;
}

/** Sends the request, following redirects; the caller consumes or destroys `body`. */
export async function httpGet(url: URL, opts: GetOptions = {}): Promise<HttpResponse> {
  let current = url;
  let headers = { ...(opts.headers ?? {}) };
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(current, opts.method ?? 'GET', headers, opts.timeoutMs ?? IDLE_TIMEOUT_MS);
    const location = res.headers.location;
    if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && location) {
      res.resume();
      if (hop >= (opts.maxRedirects ?? MAX_REDIRECTS)) {
        throw new ModelSyncError('notFound', `GET ${displayUrl(url)}: more than ${opts.maxRedirects ?? MAX_REDIRECTS} redirects`);
      }
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new ModelSyncError('unsafe', `GET ${displayUrl(url)}: refusing a redirect to a ${next.protocol} URL`);
      }
      // A signed CDN URL or another host must not receive our credentials.
      if (next.origin !== current.origin) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      current = next;
      continue;
    }
    return { status: res.statusCode ?? 0, headers: res.headers, body: res, url: current };
  }
}

function requestOnce(url: URL, method: string, headers: Record<string, string>, timeoutMs: number): Promise<IncomingMessage> {
  const protocol = url.protocol as keyof typeof agents;
  const mod = protocol === 'https:' ? https : protocol === 'http:' ? http : undefined;
  if (!mod) return Promise.reject(new ModelSyncError('config', `unsupported URL scheme ${url.protocol} in ${displayUrl(url)}`));
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: { 'user-agent': 'model-sync', ...headers }, agent: agents[protocol], timeout: timeoutMs });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no data for ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', resolve);
    req.end();
  });
}

/** A ModelSyncError for an unexpected HTTP status; 408/429/5xx are transient (retried by callers). */
export function statusError(status: number, what: string): ModelSyncError {
  if (status === 401 || status === 403) return new ModelSyncError('auth', `${what}: access refused (HTTP ${status})`);
  if (status === 404 || status === 410) return new ModelSyncError('notFound', `${what}: not found (HTTP ${status})`);
  if (TRANSIENT_HTTP_STATUS.has(status)) return new ModelSyncError('transient', `${what}: server error (HTTP ${status})`);
  return new ModelSyncError('internal', `${what}: unexpected HTTP status ${status}`);
}

/** Faults a second try can fix: network errors, 408/429/5xx, and a body cut short. */
export function isTransientHttpError(err: unknown): boolean {
  if (err instanceof ModelSyncError) return err.kind === 'transient' || err.name === 'SizeMismatchError';
  if (isTransientNetworkError(err)) return true;
  const e = err as { code?: string; message?: string };
  return e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted';
}

/** A network fault that outlived the retries, as a ModelSyncError naming the URL. */
export function networkError(err: unknown, what: string): ModelSyncError {
  if (err instanceof ModelSyncError) return err;
  const e = err as { code?: string; message?: string };
  const kind = isTransientHttpError(err) ? 'transient' : 'internal';
  return new ModelSyncError(kind, `${what}: ${e?.code ? `${e.code} ` : ''}${e?.message ?? String(err)}`.trim(), { cause: err });
}

export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}
