// A real forward proxy for the tests: Debian's squid with a config of its own in a temp dir, no
// cache, and a hosts_file of its own, so that the test host names (s3.model-sync.test, ...)
// resolve only through it: a request that reaches the server went through squid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../dev/ports.js';

export interface Squid {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The access log so far (one line per request; CONNECT for tunnels). */
  accessLog(): Promise<string>;
  stop(): Promise<void>;
}

const BASIC_AUTH_HELPER = '/usr/lib/squid/basic_ncsa_auth';

export function squidAvailable(): boolean {
  return spawnSync('squid', ['-v'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts squid on a free loopback port; `hosts` maps test names to addresses, for squid only.
 * With `auth`, every request needs those Basic credentials (Proxy-Authorization), else 407.
 */
export async function startSquid(hosts: Record<string, string>, opts: { auth?: { user: string; password: string } } = {}): Promise<Squid> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-squid-'));
  // Run as root, squid drops to its cache_effective_user (Debian's "proxy"), who writes the logs here.
  await chmod(dir, 0o777);
  const port = await freePort();
  const file = (name: string) => path.join(dir, name);
  await writeFile(file('hosts'), Object.entries(hosts).map(([name, ip]) => `${ip} ${name}\n`).join(''));
  if (opts.auth) {
    const hashed = spawnSync('htpasswd', ['-bn', opts.auth.user, opts.auth.password], { encoding: 'utf8' });
    if (hashed.status !== 0) throw new Error(`htpasswd failed: ${hashed.stderr}`);
    await writeFile(file('passwd'), hashed.stdout);
  }
  const auth = opts.auth
    ? [`auth_param basic program ${BASIC_AUTH_HELPER} ${file('passwd')}`, 'auth_param basic realm model-sync-test', 'acl users proxy_auth REQUIRED', 'http_access deny !users']
    : [];
  const conf = [
    `http_port 127.0.0.1:${port}`,
    `hosts_file ${file('hosts')}`,
    `pid_filename ${file('squid.pid')}`,
    `access_log stdio:${file('access.log')}`,
    `cache_log ${file('cache.log')}`,
    `coredump_dir ${dir}`,
    `netdb_filename none`,
    'cache deny all',
    'cache_mem 8 MB',
    // Loopback clients only (the port is bound to 127.0.0.1); CONNECT to any port, tests use free ones.
    'acl localnet src 127.0.0.0/8',
    ...auth,
    'http_access allow localnet',
    'http_access deny all',
    'via off',
    'forwarded_for delete',
    'shutdown_lifetime 0 seconds',
    'icp_port 0',
    'htcp_port 0',
    'pinger_enable off',
    'logfile_rotate 0',
    'dns_timeout 5 seconds',
    ...(process.getuid?.() === 0 ? ['cache_effective_user proxy'] : []),
    '',
  ].join('\n');
  await writeFile(file('squid.conf'), conf);
  // -N: in the foreground, one process; the test stops it.
  const child: ChildProcess = spawn('squid', ['-N', '-f', file('squid.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  while (!(await answers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = await readFile(file('cache.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(`squid did not start: ${stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    accessLog: () => readFile(file('access.log'), 'utf8').catch(() => ''),
    stop,
  };
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Every proxy variable, both cases, set or emptied: the machine's own never leak into a case. */
export function proxyEnv(values: { http?: string; https?: string; noProxy?: string }): Record<string, string> {
  return { HTTP_PROXY: values.http ?? '', http_proxy: '', HTTPS_PROXY: values.https ?? '', https_proxy: '', NO_PROXY: values.noProxy ?? '', no_proxy: '' };
}
