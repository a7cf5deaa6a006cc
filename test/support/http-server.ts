// A small HTTP server on 127.0.0.1 (free port) for fetch tests: files and archives with chosen
// Content-Types, ETags, redirects, connections cut mid-body, and a Hugging Face Hub stand-in.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  status?: number;
  body?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
  /** Answer 302 to this location (absolute or relative). */
  redirect?: string;
  /** Send an ETag (default true). */
  etag?: boolean;
  /** On the first `cutTimes` requests, close the connection after this many body bytes. */
  cutAfter?: number;
  cutTimes?: number;
  /** Require this Authorization header, else 401. */
  authorization?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  url: string;
  authorization?: string;
}

export interface TestHttpServer {
  url: string;
  routes: Map<string, Route>;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

export async function startHttpServer(): Promise<TestHttpServer> {
  const routes = new Map<string, Route>();
  const requests: RecordedRequest[] = [];
  const served = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ method: req.method ?? 'GET', path: url.pathname, url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const route = routes.get(url.pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (route.authorization && req.headers.authorization !== route.authorization) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('unauthorized');
      return;
    }
    if (route.redirect) {
      res.writeHead(302, { location: route.redirect }).end();
      return;
    }
    const body = typeof route.body === 'string' ? Buffer.from(route.body) : (route.body ?? Buffer.alloc(0));
    const headers: Record<string, string> = {
      'content-type': route.contentType ?? 'application/octet-stream',
      'content-length': String(body.length),
      ...(route.etag === false ? {} : { etag: `"${createHash('md5').update(body).digest('hex')}"` }),
      ...route.headers,
    };
    res.writeHead(route.status ?? 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const count = (served.get(url.pathname) ?? 0) + 1;
    served.set(url.pathname, count);
    if (route.cutAfter !== undefined && count <= (route.cutTimes ?? 1)) {
      res.write(body.subarray(0, route.cutAfter), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    routes,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface HfFile {
  path: string;
  body: Buffer;
  /** Listed as an LFS file (with sha256), as the Hub does for weights. */
  lfs?: boolean;
}

/**
 * Serves a model repository the way the Hub API answers it: the revision listing
 * (siblings[].rfilename, with sizes and blob ids for ?blobs=true) and /resolve/ downloads.
 * With `cdn`, downloads redirect there (another origin), as the Hub redirects LFS files.
 */
export function serveHfRepo(server: TestHttpServer, repo: string, revision: string, files: HfFile[], opts: { token?: string; cdn?: TestHttpServer; sha?: string } = {}): void {
  const sha = opts.sha ?? createHash('sha1').update(repo + revision).digest('hex');
  const auth = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const siblings = files.map((f) => ({
    rfilename: f.path,
    size: f.body.length,
    blobId: createHash('sha1').update(f.body).digest('hex'),
    ...(f.lfs ? { lfs: { sha256: createHash('sha256').update(f.body).digest('hex'), size: f.body.length, pointerSize: 134 } } : {}),
  }));
  const info = JSON.stringify({ id: repo, modelId: repo, sha, siblings });
  for (const rev of new Set([revision, sha])) {
    server.routes.set(`/api/models/${repo}/revision/${rev}`, { body: info, contentType: 'application/json', ...auth });
  }
  for (const f of files) {
    const encoded = f.path.split('/').map(encodeURIComponent).join('/');
    const resolvePath = `/${repo}/resolve/${sha}/${encoded}`;
    if (opts.cdn) {
      const cdnPath = `/cdn/${sha}/${encoded}`;
      server.routes.set(resolvePath, { redirect: `${opts.cdn.url}${cdnPath}?X-Amz-Signature=abc`, ...auth });
      opts.cdn.routes.set(cdnPath, { body: f.body });
    } else {
      server.routes.set(resolvePath, { body: f.body, ...auth });
    }
  }
}
