// Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a free port and a temp
// storage dir, for tests: `plain` (http, no auth), `htpasswd` (Basic) or `token` (Bearer, with the
// token service from token-service.ts). With `tls`, the registry (and its token service) serve https
// on 127.0.0.2 with a self-signed certificate: model-sync speaks plain http only to 127.0.0.1 and
// localhost, so a registry there is reached over https like a remote one.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTokenService, type TokenService, type TokenServiceOptions } from './token-service.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

export type RegistryMode = 'plain' | 'htpasswd' | 'token';

export const REGISTRY_USER = 'testuser';
export const REGISTRY_PASSWORD = 'testpass';

export interface TestRegistry {
  mode: RegistryMode;
  /** `127.0.0.1:PORT` (`127.0.0.2:PORT` with tls) */
  host: string;
  /** `http://127.0.0.1:PORT` (`https://127.0.0.2:PORT` with tls) */
  url: string;
  /** With tls: the certificate (PEM file) of the registry and its token service. */
  certPath?: string;
  /** The registry's storage root (blobs and repositories). */
  storageDir: string;
  username?: string;
  password?: string;
  /** Present in `token` mode. */
  tokenService?: TokenService;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  mode?: RegistryMode;
  username?: string;
  password?: string;
  /** token mode: token lifetime in seconds (default 300) and other token service options. */
  token?: Partial<Omit<TokenServiceOptions, 'dir' | 'users'>>;
  /** Reuse this port (e.g. to restart a stopped registry); default: a free one. */
  port?: number;
  /** Reuse this storage dir (kept on stop) instead of a fresh temp one. */
  storageDir?: string;
  /**
   * Serve https on 127.0.0.2 (the token service too): `true` with a self-signed certificate for that
   * address, or this certificate (PEM files, e.g. one a test CA signed for test names and 127.0.0.2).
   */
  tls?: boolean | { keyPath: string; certPath: string };
  /** Allow DELETE of manifests and blobs (default true; false answers 405 UNSUPPORTED, as many hosted registries refuse). */
  deleteEnabled?: boolean;
  /** Listen on this address instead (e.g. `127.0.0.2` for a plain-HTTP registry outside the loopback names). */
  bind?: string;
  /** token mode: the realm the registry names in its challenge (default: the token service's, which a function may rewrite). */
  realm?: string | ((tokenServiceRealm: string) => string);
}

/** True when the docker-registry binary is installed (tests skip with a message otherwise). */
export function registryAvailable(): boolean {
  return spawnSync('docker-registry', ['--version'], { stdio: 'ignore' }).status === 0;
}

export { freePort };

function v2Status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? (u: string, cb: (res: http.IncomingMessage) => void) => https.get(u, { rejectUnauthorized: false }, cb) : http.get;
    const req = get(`${url}/v2/`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(1000, () => req.destroy());
  });
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const mode = opts.mode ?? 'plain';
  const work = await mkdtemp(path.join(tmpdir(), 'ms-registry-'));
  const storageDir = opts.storageDir ?? path.join(work, 'data');
  const username = opts.username ?? REGISTRY_USER;
  const password = opts.password ?? REGISTRY_PASSWORD;
  let authBlock = '';
  let tokenService: TokenService | undefined;
  const bind = opts.bind ?? (opts.tls ? '127.0.0.2' : '127.0.0.1');
  let tls: { host: string; key: string; cert: string; keyPath: string; certPath: string } | undefined;
  if (typeof opts.tls === 'object') {
    const { keyPath, certPath } = opts.tls;
    tls = { host: bind, key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8'), keyPath, certPath };
  } else if (opts.tls) {
    const keyPath = path.join(work, 'tls-key.pem');
    const certPath = path.join(work, 'tls-cert.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', keyPath, '-out', certPath, '-subj', `/CN=${bind}`, '-addext', `subjectAltName=IP:${bind}`]);
    tls = { host: bind, key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8'), keyPath, certPath };
  }
  if (mode === 'htpasswd') {
    const { stdout } = await run('htpasswd', ['-Bbn', username, password]); // the registry accepts bcrypt only
    await writeFile(path.join(work, 'htpasswd'), stdout);
    authBlock = `auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${path.join(work, 'htpasswd')}\n`;
  } else if (mode === 'token') {
    tokenService = await startTokenService({ lifetimeSeconds: 300, ...opts.token, dir: work, users: { [username]: password }, ...(tls ? { tls } : {}) });
    authBlock =
      `auth:\n  token:\n    realm: ${typeof opts.realm === 'function' ? opts.realm(tokenService.realm) : (opts.realm ?? tokenService.realm)}\n    service: ${tokenService.service}\n` +
      `    issuer: ${tokenService.issuer}\n    rootcertbundle: ${tokenService.certPath}\n`;
  }

  const logFile = path.join(work, 'registry.log');
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort());
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      `    enabled: ${opts.deleteEnabled ?? true}`,
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: ${bind}:${port}`,
      ...(tls ? ['  tls:', `    certificate: ${tls.certPath}`, `    key: ${tls.keyPath}`] : []),
      authBlock,
    ].join('\n');
    const configPath = path.join(work, 'config.yml');
    await writeFile(configPath, config);
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logFile, 'a');
    const child: ChildProcess = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let exited = false;
    child.once('exit', () => (exited = true));
    const url = `${tls ? 'https' : 'http'}://${bind}:${port}`;
    for (let i = 0; i < 100 && !exited; i++) {
      const status = await v2Status(url);
      if (status === 200 || status === 401) {
        const stop = async (): Promise<void> => {
          if (!exited) {
            const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await gone;
            clearTimeout(timer);
          }
          await tokenService?.stop();
          await rm(work, { recursive: true, force: true });
        };
        return { mode, host: `${bind}:${port}`, url, ...(tls ? { certPath: tls.certPath } : {}), storageDir, username: mode === 'plain' ? undefined : username, password: mode === 'plain' ? undefined : password, tokenService, logFile, stop };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!exited) child.kill('SIGKILL');
    lastError = await readFile(logFile, 'utf8').catch(() => '');
    if (opts.port) break;
  }
  await tokenService?.stop();
  await rm(work, { recursive: true, force: true });
  throw new Error(`docker-registry did not start: ${lastError.slice(-2000)}`);
}
