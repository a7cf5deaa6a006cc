// A Bearer token service for docker-registry's `auth: token:` mode, written for the tests:
// node:http + node:crypto, RS256 JWTs signed with a self-signed certificate made by openssl and
// carried in the `x5c` header (the registry trusts it through `rootcertbundle`). Over http on
// 127.0.0.1, or over https when the registry launcher serves TLS.
import { execFile } from 'node:child_process';
import { X509Certificate, createSign, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TokenRequestRecord {
  user: string | undefined;
  scopes: string[];
  /** 'issued' | 'denied' (bad credentials) | 'poisoned' (a token the registry must reject) */
  outcome: 'issued' | 'denied' | 'poisoned';
  /** The token handed out (issued or poisoned). */
  token?: string;
}

export interface TokenService {
  realm: string;
  issuer: string;
  service: string;
  certPath: string;
  /** Every request seen, in order. */
  requests: TokenRequestRecord[];
  /** The next N issued tokens get a bad signature, so the registry answers 401 with them. */
  poisonNext(n: number): void;
  stop(): Promise<void>;
}

export interface TokenServiceOptions {
  /** Directory for the key and certificate (the caller cleans it up). */
  dir: string;
  users: Record<string, string>;
  lifetimeSeconds: number;
  issuer?: string;
  service?: string;
  /** Name of the token field in the response: 'token', 'access_token' or both (default 'token'). */
  tokenField?: 'token' | 'access_token' | 'both';
  /** Leave out expires_in (clients must then assume 60 s). */
  omitExpiresIn?: boolean;
  /** Serve https on this address with this key and certificate (PEM), instead of http on 127.0.0.1. */
  tls?: { host: string; key: string; cert: string };
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export async function startTokenService(opts: TokenServiceOptions): Promise<TokenService> {
  const keyPath = path.join(opts.dir, 'token-key.pem');
  const certPath = path.join(opts.dir, 'token-cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', keyPath, '-out', certPath, '-subj', '/CN=model-sync-test-token']);
  const key = await readFile(keyPath, 'utf8');
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  const issuer = opts.issuer ?? 'model-sync-test-issuer';
  const service = opts.service ?? 'model-sync-test-registry';
  const requests: TokenRequestRecord[] = [];
  let poison = 0;

  const sign = (claims: object, bad: boolean): string => {
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [certDer] }));
    const payload = b64url(JSON.stringify(claims));
    const signer = createSign('RSA-SHA256');
    signer.update(`${header}.${payload}`);
    const sig = signer.sign(key);
    if (bad) sig[0] = (sig[0] ?? 0) ^ 0xff;
    return `${header}.${payload}.${b64url(sig)}`;
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      if (colon < 0 || opts.users[name] !== decoded.slice(colon + 1)) {
        requests.push({ user: name, scopes, outcome: 'denied' });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
        return;
      }
      user = name;
    }
    if (url.searchParams.get('service') !== service) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'unknown service' }] }));
      return;
    }
    // Authenticated users get what they ask for; anonymous callers get nothing.
    const access = user
      ? scopes.flatMap((scope) => {
          const [type, ...rest] = scope.split(':');
          const actions = rest.pop() ?? '';
          return [{ type, name: rest.join(':'), actions: actions.split(',').filter(Boolean) }];
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const bad = poison > 0;
    if (bad) poison--;
    const token = sign(
      { iss: issuer, sub: user ?? '', aud: service, exp: now + opts.lifetimeSeconds, nbf: now - 1, iat: now, jti: randomUUID(), access },
      bad,
    );
    requests.push({ user, scopes, outcome: bad ? 'poisoned' : 'issued', token });
    const field = opts.tokenField ?? 'token';
    const body: Record<string, unknown> = { issued_at: new Date(now * 1000).toISOString() };
    if (field === 'token' || field === 'both') body.token = token;
    if (field === 'access_token' || field === 'both') body.access_token = token;
    if (!opts.omitExpiresIn) body.expires_in = opts.lifetimeSeconds;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handle) : http.createServer(handle);
  const host = opts.tls?.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `${opts.tls ? 'https' : 'http'}://${host}:${port}/token`,
    issuer,
    service,
    certPath,
    requests,
    poisonNext(n: number) {
      poison = n;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
