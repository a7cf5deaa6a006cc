// Proxies: the NO_PROXY rules (Go's httpproxy plus CIDR), how config/ reads HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY, the routing agent of every pool against small local forward proxies (plain
// forwarding and CONNECT, TLS options through the tunnel), and that proxy credentials never reach
// the log. squid end to end is in proxy-squid.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, tempDir } from '../dev/cli.js';
import { ConfigError } from '../src/errors.js';
import { proxyFromEnvironment } from '../src/config/proxy-env.js';
import { AgentPool } from '../src/net/policy.js';
import { RoutingAgent } from '../src/net/proxy-agent.js';
import { ProxyRules, splitNoProxy, type ProxySettings } from '../src/net/proxy-rules.js';
import { readBody, send } from '../src/net/request.js';
import { redact } from '../src/util/redact.js';

const P = new URL('http://proxy.test:3128');

function direct(noProxy: string, url: string): boolean {
  const u = new URL(url);
  return new ProxyRules({ http: P, https: P, noProxy: splitNoProxy(noProxy) }).proxyFor(u) === undefined;
}

describe('NO_PROXY rules (Go httpproxy, plus CIDR)', () => {
  it('a domain matches itself and its subdomains; .domain and *.domain only subdomains', () => {
    assert.equal(direct('example.com', 'http://example.com/'), true);
    assert.equal(direct('example.com', 'http://sub.example.com/'), true);
    assert.equal(direct('example.com', 'http://notexample.com/'), false);
    assert.equal(direct('.example.com', 'http://example.com/'), false);
    assert.equal(direct('.example.com', 'http://a.b.example.com/'), true);
    assert.equal(direct('*.svc.cluster.local', 'http://minio.minio.svc.cluster.local:9000/'), true);
    assert.equal(direct('*.svc.cluster.local', 'http://svc.cluster.local/'), false);
    assert.equal(direct('Example.COM', 'http://API.example.com/'), true, 'case-insensitive');
  });

  it('upstream sample Job: NO_PROXY=minio.minio.svc.cluster.local,*.svc.cluster.local', () => {
    const list = 'minio.minio.svc.cluster.local,*.svc.cluster.local';
    assert.equal(direct(list, 'http://minio.minio.svc.cluster.local:9000/'), true);
    assert.equal(direct(list, 'https://model-registry.kubeflow.svc.cluster.local:8443/'), true);
    assert.equal(direct(list, 'https://quay.io/'), false);
  });

  it('* alone disables the proxy; blanks and spaces between entries are ignored', () => {
    assert.equal(direct('*', 'https://quay.io/'), true);
    assert.equal(direct(' , quay.io ,', 'https://quay.io/'), true);
    assert.equal(direct('', 'https://quay.io/'), false);
    assert.equal(direct('*.quay.io', 'https://quay.io/'), false, '* only counts alone');
  });

  it('a :port restricts an entry to that port; the scheme default port counts', () => {
    assert.equal(direct('registry.test:5000', 'https://registry.test:5000/'), true);
    assert.equal(direct('registry.test:5000', 'https://registry.test/'), false);
    assert.equal(direct('registry.test:443', 'https://registry.test/'), true);
    assert.equal(direct('registry.test:80', 'https://registry.test/'), false);
    assert.equal(direct('10.1.2.3:9000', 'http://10.1.2.3:9000/'), true);
    assert.equal(direct('10.1.2.3:9000', 'http://10.1.2.3:9001/'), false);
    assert.equal(direct('[fd00::5]:8080', 'http://[fd00::5]:8080/'), true);
    assert.equal(direct('[fd00::5]:8080', 'http://[fd00::5]:8081/'), false);
  });

  it('IP literals match the same address, IPv6 in any spelling', () => {
    assert.equal(direct('10.1.2.3', 'http://10.1.2.3/'), true);
    assert.equal(direct('10.1.2.3', 'http://10.1.2.4/'), false);
    assert.equal(direct('fd00:0:0::5', 'http://[fd00::5]/'), true);
    assert.equal(direct('fd00::5', 'http://[fd00::6]/'), false);
  });

  it('CIDR entries (IPv4 and IPv6) match IP-literal hosts, never names', () => {
    assert.equal(direct('10.0.0.0/8', 'http://10.200.3.4:9000/'), true);
    assert.equal(direct('10.0.0.0/8', 'http://11.0.0.1/'), false);
    assert.equal(direct('10.1.2.3/16', 'http://10.1.99.1/'), true, 'host bits in the entry are ignored, as Go');
    assert.equal(direct('fd00::/8', 'https://[fd12:3456::1]/'), true);
    assert.equal(direct('fd00::/8', 'https://[fe80::1]/'), false);
    assert.equal(direct('10.0.0.0/8', 'http://[::ffff:10.1.2.3]/'), true, 'an IPv4-mapped IPv6 host is its IPv4 address');
    assert.equal(direct('10.0.0.0/8', 'http://ten.example/'), false);
    assert.equal(direct('10.0.0.0/33', 'http://10.0.0.1/'), false, 'an impossible prefix matches nothing');
  });

  it('localhost and loopback addresses are never proxied, listed or not (as Go)', () => {
    assert.equal(direct('', 'http://localhost:8080/'), true);
    assert.equal(direct('', 'http://127.0.0.1:8080/'), true);
    assert.equal(direct('', 'http://127.9.9.9/'), true);
    assert.equal(direct('', 'http://[::1]:5000/'), true);
    assert.equal(direct('', 'http://app.localhost/'), false, 'only the name localhost itself');
  });

  it('https never falls back to HTTP_PROXY, nor http to HTTPS_PROXY', () => {
    const onlyHttp = new ProxyRules({ http: P, noProxy: [] });
    assert.equal(onlyHttp.proxyFor(new URL('https://quay.io/')), undefined);
    assert.equal(onlyHttp.proxyFor(new URL('http://quay.io/'))?.href, P.href);
    const onlyHttps = new ProxyRules({ https: P, noProxy: [] });
    assert.equal(onlyHttps.proxyFor(new URL('http://quay.io/')), undefined);
  });
});

describe('HTTP_PROXY, HTTPS_PROXY, NO_PROXY from the environment (config/)', () => {
  it('upper case first, then lower case, as Go; an empty value counts as unset', () => {
    const both = proxyFromEnvironment({ HTTPS_PROXY: 'http://upper:3128', https_proxy: 'http://lower:3128' });
    assert.equal(both?.https?.host, 'upper:3128');
    const emptyUpper = proxyFromEnvironment({ HTTPS_PROXY: '', https_proxy: 'http://lower:3128', no_proxy: 'a.test, b.test' });
    assert.equal(emptyUpper?.https?.host, 'lower:3128');
    assert.deepEqual(emptyUpper?.noProxy, ['a.test', 'b.test']);
    const lowerNoProxy = proxyFromEnvironment({ http_proxy: 'http://p:1', NO_PROXY: '', no_proxy: 'x.test' });
    assert.deepEqual(lowerNoProxy?.noProxy, ['x.test']);
  });

  it("upstream's sample Job (HTTPS_PROXY=\"\" and a NO_PROXY list) sets no proxy", () => {
    assert.equal(proxyFromEnvironment({ HTTPS_PROXY: '', NO_PROXY: 'minio.minio.svc.cluster.local,*.svc.cluster.local' }), undefined);
    assert.equal(proxyFromEnvironment({ HTTP_PROXY: '  ' }), undefined);
  });

  it('host:port means http://host:port; other schemes and non-URLs are configuration errors naming the variable', () => {
    assert.equal(proxyFromEnvironment({ HTTP_PROXY: 'proxy.corp:3128' })?.http?.href, 'http://proxy.corp:3128/');
    assert.equal(proxyFromEnvironment({ HTTPS_PROXY: 'https://proxy.corp' })?.https?.href, 'https://proxy.corp/');
    assert.throws(() => proxyFromEnvironment({ HTTPS_PROXY: 'socks5://proxy.corp:1080' }), (e: unknown) => e instanceof ConfigError && /^HTTPS_PROXY=socks5:\/\/proxy\.corp:1080\/?: the socks5 scheme is not supported/.test(e.message));
    assert.throws(() => proxyFromEnvironment({ http_proxy: 'http://bad host' }), (e: unknown) => e instanceof ConfigError && /^http_proxy=.*not a URL/.test(e.message));
  });

  it('credentials in a proxy URL are registered as secrets (plain and percent-encoded)', () => {
    proxyFromEnvironment({ HTTPS_PROXY: 'http://proxyuser:pr0xy%40pass@proxy.corp:3128' });
    const line = redact(`pass pr0xy@pass enc pr0xy%40pass basic ${Buffer.from('proxyuser:pr0xy@pass').toString('base64')}`);
    assert.equal(line.includes('pr0xy'), false, line);
    assert.equal(line.includes(Buffer.from('proxyuser:pr0xy@pass').toString('base64')), false, line);
  });
});

/** A forward proxy of a few lines: absolute-URL requests for http, CONNECT tunnels for https; records what it saw. */
async function startToyProxy(): Promise<{ url: URL; seen: string[]; auth: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    auth.push(String(req.headers['proxy-authorization'] ?? ''));
    const target = new URL(req.url!);
    if (target.hostname.endsWith('.test')) target.hostname = '127.0.0.1';
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    auth.push(String(req.headers['proxy-authorization'] ?? ''));
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    // Every test name resolves to the loopback here, like squid's hosts_file in the squid test.
    const upstream = net.connect(port, host.endsWith('.test') ? '127.0.0.1' : host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    seen,
    auth,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function testCa(): { dir: string; ca: string; key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-proxy-ca-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=model-sync proxy test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=tls.model-sync.test']);
  const ext = path.join(dir, 'ext.cnf');
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:tls.model-sync.test\\n' > ${ext}`]);
  run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', ext]);
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  return { dir, ca: read('ca.crt'), key: read('srv.key'), cert: read('srv.crt') };
}

describe('the pools route through the proxy per request (toy forward proxy)', () => {
  let proxy: Awaited<ReturnType<typeof startToyProxy>>;
  let web: http.Server;
  let tlsServer: https.Server;
  let webPort: number;
  let tlsPort: number;
  let ca: ReturnType<typeof testCa>;

  before(async () => {
    proxy = await startToyProxy();
    web = http.createServer((req, res) => res.end(`web ${req.url}`));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webPort = (web.address() as AddressInfo).port;
    ca = testCa();
    tlsServer = https.createServer({ key: ca.key, cert: ca.cert }, (req, res) => res.end(`tls ${req.url}`));
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
  });
  after(async () => {
    await proxy.close();
    web.closeAllConnections();
    tlsServer.closeAllConnections();
    await Promise.all([new Promise((r) => web.close(r)), new Promise((r) => tlsServer.close(r))]);
    rmSync(ca.dir, { recursive: true, force: true });
  });

  function settings(noProxy = ''): ProxySettings {
    return { http: proxy.url, https: proxy.url, noProxy: splitNoProxy(noProxy) };
  }

  it('http goes through the proxy as an absolute-URL request, with keep-alive kept', async () => {
    const pool = new AgentPool({ tlsVerify: true, proxy: settings() });
    try {
      assert.ok(pool.httpAgent instanceof RoutingAgent);
      // A name only the proxy resolves: the request cannot have gone direct.
      for (const n of [1, 2]) {
        const res = await send({ method: 'GET', url: new URL(`http://web.model-sync.test:${webPort}/a${n}`) }, pool);
        assert.equal((await readBody(res)).toString(), `web /a${n}`);
      }
      assert.ok(proxy.seen.includes(`GET http://web.model-sync.test:${webPort}/a1`), proxy.seen.join('\n'));
      assert.ok(proxy.seen.includes(`GET http://web.model-sync.test:${webPort}/a2`), proxy.seen.join('\n'));
    } finally {
      pool.close();
    }
  });

  it('https goes through a CONNECT tunnel with the pool CA and verification applied inside it', async () => {
    const verified = new AgentPool({ tlsVerify: true, ca: ca.ca, proxy: settings() });
    const unknownCa = new AgentPool({ tlsVerify: true, proxy: settings() });
    const unverified = new AgentPool({ tlsVerify: false, proxy: settings() });
    try {
      const url = new URL(`https://tls.model-sync.test:${tlsPort}/model.bin`);
      const res = await send({ method: 'GET', url }, verified);
      assert.equal((await readBody(res)).toString(), 'tls /model.bin');
      assert.ok(proxy.seen.includes(`CONNECT tls.model-sync.test:${tlsPort}`), proxy.seen.join('\n'));
      const again = await send({ method: 'GET', url }, verified);
      await readBody(again);
      assert.equal(proxy.seen.filter((s) => s === `CONNECT tls.model-sync.test:${tlsPort}`).length, 1, 'the tunnel is kept alive and reused');
      await assert.rejects(send({ method: 'GET', url }, unknownCa), /presented a certificate no trusted CA signed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/, 'the system roots alone do not trust the test CA');
      const insecure = await send({ method: 'GET', url }, unverified);
      assert.equal((await readBody(insecure)).toString(), 'tls /model.bin');
    } finally {
      verified.close();
      unknownCa.close();
      unverified.close();
    }
  });

  it('NO_PROXY and loopback go direct; proxy credentials travel as Proxy-Authorization', async () => {
    const pool = new AgentPool({ tlsVerify: true, ca: ca.ca, proxy: settings('tls.model-sync.test') });
    const before = proxy.seen.length;
    try {
      const res = await send({ method: 'GET', url: new URL(`http://127.0.0.1:${webPort}/loop`) }, pool);
      assert.equal((await readBody(res)).toString(), 'web /loop');
      await assert.rejects(send({ method: 'GET', url: new URL(`https://tls.model-sync.test:${tlsPort}/x`) }, pool), /ENOTFOUND|EAI_AGAIN/, 'direct: nobody resolves the test name');
      assert.equal(proxy.seen.length, before, 'nothing reached the proxy');
    } finally {
      pool.close();
    }
    const withAuth = new URL(proxy.url);
    withAuth.username = 'puser';
    withAuth.password = 'ppass-123';
    const authed = new AgentPool({ tlsVerify: true, ca: ca.ca, proxy: { https: withAuth, noProxy: [] } });
    try {
      const res = await send({ method: 'GET', url: new URL(`https://tls.model-sync.test:${tlsPort}/auth`) }, authed);
      await readBody(res);
      assert.equal(proxy.auth.at(-1), `Basic ${Buffer.from('puser:ppass-123').toString('base64')}`);
    } finally {
      authed.close();
    }
  });
});

describe('the CLI logs the proxy once, masked', () => {
  it('names the proxy and NO_PROXY, never its credentials', async () => {
    const ws = await tempDir();
    try {
      const r = await runCli(['fetch', '--storage-path', ws, '--source-type', 'uri', '--source-uri', 'http://127.0.0.1:9/m.bin'], {
        HTTPS_PROXY: 'http://loguser:l0g-secret-pw@proxy.corp:3128',
        HTTP_PROXY: 'http://loguser:l0g-secret-pw@proxy.corp:3128',
        NO_PROXY: 'minio.test,10.0.0.0/8',
        http_proxy: '',
        https_proxy: '',
        no_proxy: '',
      });
      assert.equal(r.stderr.includes('l0g-secret-pw'), false, r.stderr);
      assert.equal(r.stderr.includes(Buffer.from('loguser:l0g-secret-pw').toString('base64')), false);
      const lines = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const proxyLines = lines.filter((l) => l.msg === 'proxy');
      assert.equal(proxyLines.length, 1, r.stderr);
      assert.equal(proxyLines[0]!.httpsProxy, 'http://proxy.corp:3128/');
      assert.deepEqual(proxyLines[0]!.noProxy, ['minio.test', '10.0.0.0/8']);
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });
});
