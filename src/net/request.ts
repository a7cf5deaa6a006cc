// One request function on node:http/https for every client: bodies from a Buffer or from a stream
// factory (so that a request can be sent again after a 401 or a transient fault), an early error
// answer stops the upload, a silent socket fails as ETIMEDOUT, and redirects are followed on
// request with credentials that never travel to another origin.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';
import { AgentPool } from './policy.js';
import { proxyAuthRefused } from './proxy-rules.js';
import { displayUrl } from './url.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type RequestBody = Buffer | { length: number; open: () => Readable };

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Follow up to this many redirects (GET and HEAD only); unset returns a 3xx answer as it is. */
  maxRedirects?: number;
  /** Aborted (the run is stopping): the request and its answer's body end with an AbortError. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The caller reads, drains or destroys it. */
  body: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
}

export const MAX_REDIRECTS = 10;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** Sends `req` through `pool`, whose policy (TLS, timeouts) the caller made from its settings. */
export async function send(req: HttpRequest, pool: AgentPool): Promise<HttpResponse> {
  let url = req.url;
  let headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
  const maxRedirects = req.method === 'GET' || req.method === 'HEAD' ? req.maxRedirects : undefined;
  for (let hop = 0; ; hop++) {
    const res = await sendOnce(req.method, url, headers, req.body, pool, req.signal).catch((err: unknown) => {
      throw pool.certificateFailure(err, url.host) ?? err;
    });
    if (res.status === 407) {
      res.body.resume();
      throw proxyAuthRefused(`${req.method} ${displayUrl(url)}`);
    }
    const location = header(res, 'location');
    if (maxRedirects === undefined || !REDIRECT_STATUS.has(res.status) || !location) return res;
    res.body.resume();
    const what = `${req.method} ${displayUrl(req.url)}`;
    if (hop >= maxRedirects) throw new ModelSyncError('notFound', `${what}: more than ${maxRedirects} redirects`);
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new ModelSyncError('unsafe', `${what}: refusing a redirect to a ${next.protocol} URL`);
    // A signed CDN URL or another host must not receive our credentials.
    if (next.origin !== url.origin) {
      const { authorization: _dropped, ...rest } = headers;
      headers = rest;
    }
    url = next;
  }
}

function sendOnce(method: HttpMethod, url: URL, given: Record<string, string>, body: RequestBody | undefined, pool: AgentPool, signal?: AbortSignal): Promise<HttpResponse> {
  const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!lib) return Promise.reject(new ModelSyncError('config', `unsupported URL scheme ${url.protocol} in ${displayUrl(url)}`));
  const headers: Record<string, string> = { 'user-agent': 'model-sync', ...given };
  if (body !== undefined) headers['content-length'] = String(body.length);
  else if (method === 'PUT' || method === 'POST' || method === 'PATCH') headers['content-length'] = '0';

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    let source: Readable | undefined;
    let response: IncomingMessage | undefined;
    const request = lib.request(url, { method, headers, agent: pool.agent(url), ...(signal ? { signal } : {}) }, (res) => {
      settled = true;
      response = res;
      // An early error answer (401, 413, ...) ends the upload: stop reading the file.
      if (source && !source.readableEnded && (res.statusCode ?? 0) >= 300) {
        source.unpipe(request);
        source.destroy();
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    request.setTimeout(pool.idleTimeoutMs, () => {
      // A body that stalls fails with the timeout as its cause, not as a bare "aborted".
      const err = timeoutError(`no data for ${pool.idleTimeoutMs / 1000} s`);
      response?.destroy(err);
      request.destroy(err);
    });
    const connectMs = pool.connectTimeoutMs;
    if (connectMs !== undefined) {
      request.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => request.destroy(timeoutError(`no connection within ${connectMs / 1000} s`)), connectMs);
        socket.once('connect', () => clearTimeout(timer));
        request.once('close', () => clearTimeout(timer));
      });
    }
    request.on('error', fail);
    if (body === undefined) request.end();
    else if (Buffer.isBuffer(body)) request.end(body);
    else {
      source = body.open();
      source.on('error', (err) => {
        request.destroy(err);
        fail(err);
      });
      source.pipe(request);
    }
  });
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}

/** Reads a (small) response body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.body.destroy();
      throw Object.assign(new Error(`response body larger than ${limit} bytes`), { code: 'ETOOBIG' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Discards a response body so that the socket goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    for await (const _ of res.body) {
      // discard
    }
  } catch {
    // a broken body on a response we do not read is not our concern
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Content-Length when it is a plain number of bytes. */
export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}
