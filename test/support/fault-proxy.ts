// A fault-injecting reverse proxy for the tests: put it between model-sync and any local HTTP server
// (S3, a web server, docker-registry, the Model Registry stand-in) and say which requests go wrong.
// Rules apply in order to matching requests, each for `times` requests; the rest pass through
// unchanged. Every request is recorded (method, path and query, status, body bytes forwarded). The
// Host header is forwarded as the client sent it, so SigV4 signatures and the registry's Location
// headers keep working through the proxy. Faults: a status (with Retry-After), a reset or a stall
// after N body bytes, request and answer headers stripped or set, one body byte altered, a delay.
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FaultRule {
  method?: string;
  /** The request path (without query) equals this, or matches it. */
  path?: string | RegExp;
  /** Requests the rule applies to (default 1); it is spent after that. */
  times?: number;
  /** Matching requests let through unchanged before the rule applies (default 0): `skip: 2` hits the third. */
  skip?: number;
  /** Wait this long before handling the request (a slow link). */
  delayMs?: number;
  /** Answer this status instead of forwarding (with `retryAfter` as Retry-After and `body`). */
  status?: number;
  retryAfter?: string;
  body?: string;
  /** Forward, then cut the connection after this many bytes of the answer's body. */
  resetAfterBytes?: number;
  /** Forward, then send nothing after this many bytes of the answer's body (the socket stays open). */
  stallAfterBytes?: number;
  /**
   * Forward only this many bytes of the request's body, then cut both connections: the server got
   * part of an upload, the client sees a reset (a network fault mid-PATCH). 0 forwards nothing.
   */
  resetRequestAfterBytes?: number;
  /** Request headers removed before forwarding (lower case), e.g. `range`. */
  stripRequestHeaders?: string[];
  /** Answer headers removed before they reach the client (lower case), e.g. `content-range`. */
  stripResponseHeaders?: string[];
  /**
   * Answer headers set (or replaced, lower case) before they reach the client, e.g. a wrong
   * `docker-content-digest` or `x-amz-checksum-crc32`; also on a `status` answer.
   */
  setResponseHeaders?: Record<string, string>;
  /** Forward, with the byte at this offset of the answer's body inverted (a proxy that alters bytes). */
  corruptByteAt?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The rule that applied, if any. */
  fault?: FaultRule;
  /** The answer's status; 0 while none came (a request cut by `resetRequestAfterBytes` keeps 0). */
  status: number;
  /** Request body bytes forwarded to the server. */
  requestBytes: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`, to use instead of the upstream's address. */
  url: string;
  rules: FaultRule[];
  requests: ProxiedRequest[];
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rules: FaultRule[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const take = (method: string, path: string): FaultRule | undefined => {
    const rule = rules.find(
      (r) => (r.times ?? 1) > 0 && (!r.method || r.method === method) && (!r.path || (typeof r.path === 'string' ? r.path === path : r.path.test(path))),
    );
    if (rule && (rule.skip ?? 0) > 0) {
      rule.skip! -= 1;
      return undefined;
    }
    if (rule) rule.times = (rule.times ?? 1) - 1;
    return rule;
  };

  const server = http.createServer(async (req, res) => {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    const fault = take(method, path);
    const record: ProxiedRequest = { method, path, url: req.url ?? '/', headers: req.headers, ...(fault ? { fault } : {}), status: 0, requestBytes: 0 };
    requests.push(record);
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.status !== undefined) {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'text/plain', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}), ...fault.setResponseHeaders });
      res.end(fault.body ?? `fault proxy: ${fault.status}`);
      return;
    }
    const headers = { ...req.headers };
    for (const h of fault?.stripRequestHeaders ?? []) delete headers[h];
    const forward = http.request(
      { host: target.hostname, port: target.port, method, path: req.url, headers, agent },
      (up) => {
        record.status = up.statusCode ?? 502;
        const answer = { ...up.headers };
        for (const h of fault?.stripResponseHeaders ?? []) delete answer[h];
        Object.assign(answer, fault?.setResponseHeaders);
        res.writeHead(up.statusCode ?? 502, answer);
        const corrupt = fault?.corruptByteAt;
        const limit = fault?.resetAfterBytes ?? fault?.stallAfterBytes ?? (corrupt === undefined ? undefined : Infinity);
        if (limit === undefined) {
          up.pipe(res);
          return;
        }
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent >= limit) return;
          const piece = Buffer.from(chunk.subarray(0, limit - sent));
          if (corrupt !== undefined && corrupt >= sent && corrupt < sent + piece.length) piece[corrupt - sent] = piece[corrupt - sent]! ^ 0xff;
          sent += piece.length;
          const last = sent >= limit;
          // A reset waits for the bytes to leave; a stall leaves the client's socket open and silent.
          res.write(piece, () => {
            if (last && fault?.resetAfterBytes !== undefined) res.socket?.destroy();
          });
          if (last) up.destroy();
        });
        up.on('end', () => res.end());
      },
    );
    forward.on('error', () => res.destroy());
    const cutAt = fault?.resetRequestAfterBytes;
    if (cutAt === undefined) {
      req.on('data', (chunk: Buffer) => (record.requestBytes += chunk.length));
      req.pipe(forward);
      return;
    }
    if (cutAt === 0) {
      // Nothing reaches the server: the connection breaks as the upload starts.
      forward.destroy();
      req.socket.destroy();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      if (record.requestBytes >= cutAt) return;
      const piece = chunk.subarray(0, cutAt - record.requestBytes);
      record.requestBytes += piece.length;
      // The piece reaches the server before both sides are cut.
      forward.write(piece, () => {
        if (record.requestBytes < cutAt) return;
        forward.destroy();
        req.socket.destroy();
      });
    });
    req.on('end', () => {
      if (record.requestBytes < cutAt) forward.end();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    rules,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
