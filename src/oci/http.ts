// A small HTTP transport on node:http/https for the registry client: keep-alive agents with a
// bounded number of sockets, bodies from a Buffer or from a stream factory (so a request can be
// sent again after a 401 or a transient fault), and an idle timeout that fails as ETIMEDOUT.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export type RequestBody = Buffer | { length: number; open: () => Readable };

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

export interface TransportOptions {
  tlsVerify: boolean;
  maxSockets?: number;
  /** Idle socket time before a request fails (ms). */
  idleTimeoutMs?: number;
}

export class HttpTransport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly idleTimeoutMs: number;

  constructor(opts: TransportOptions) {
    const maxSockets = opts.maxSockets ?? 16;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, rejectUnauthorized: opts.tlsVerify });
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const isHttps = req.url.protocol === 'https:';
    const lib = isHttps ? https : http;
    const headers: Record<string, string> = { 'user-agent': 'model-sync', ...req.headers };
    const body = req.body;
    if (body !== undefined) headers['content-length'] = String(Buffer.isBuffer(body) ? body.length : body.length);
    else if (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH') headers['content-length'] = '0';

    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      let source: Readable | undefined;
      const request = lib.request(
        req.url,
        { method: req.method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent },
        (res) => {
          settled = true;
          // An early error answer (401, 413, ...) ends the upload: stop reading the file.
          if (source && !source.readableEnded && (res.statusCode ?? 0) >= 300) {
            source.unpipe(request);
            source.destroy();
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
        },
      );
      request.setTimeout(this.idleTimeoutMs, () => {
        const err = Object.assign(new Error(`no data for ${this.idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' });
        request.destroy(err);
      });
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

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
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
