// Which requests go through a forward proxy: Go's golang.org/x/net/http/httpproxy rules (what
// skopeo, the registry clients and most cluster tooling follow), plus CIDR entries in NO_PROXY
// for IP-literal hosts. Pure: config/ reads the environment and hands the values in.
import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { ModelSyncError } from '../errors.js';
import { displayUrl } from '../util/display-url.js';

/** The proxies of one step, as config/ read them (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). */
export interface ProxySettings {
  /** For http:// requests. */
  http?: URL;
  /** For https:// requests; never taken from `http` (as Go). */
  https?: URL;
  /** NO_PROXY entries, trimmed, empty ones dropped. */
  noProxy: string[];
}

/** The part of a request URL the decision looks at. */
export interface ProxyTarget {
  protocol: string;
  /** Host name or IP literal (IPv6 with or without brackets). */
  hostname: string;
  /** Empty or unset means the scheme's default port. */
  port?: string | number | undefined;
}

type Matcher = (host: string, port: string, ip: string | undefined) => boolean;

/** Decides per request: the proxy URL to use, or undefined for a direct connection. */
export class ProxyRules {
  private readonly matchers: Matcher[];

  constructor(private readonly settings: ProxySettings) {
    this.matchers = settings.noProxy.flatMap((entry) => noProxyMatcher(entry));
  }

  proxyFor(target: ProxyTarget): URL | undefined {
    const proxy = target.protocol === 'https:' ? this.settings.https : target.protocol === 'http:' ? this.settings.http : undefined;
    if (!proxy) return undefined;
    return this.bypasses(target) ? undefined : proxy;
  }

  /** True when NO_PROXY (or the loopback rule) sends this target direct. */
  bypasses(target: ProxyTarget): boolean {
    const host = asciiHost(target.hostname);
    const port = String(target.port || (target.protocol === 'https:' ? 443 : 80));
    const ip = ipOf(host);
    // Go never proxies localhost or a loopback address, whatever NO_PROXY says.
    if (host === 'localhost' || (ip !== undefined && isLoopback(ip))) return true;
    return this.matchers.some((m) => m(host, port, ip));
  }
}

/** How the proxies are shown in the log: no credentials, the NO_PROXY list as given. */
export function describeProxies(settings: ProxySettings): { httpProxy?: string; httpsProxy?: string; noProxy: string[] } {
  return {
    ...(settings.http ? { httpProxy: displayUrl(settings.http) } : {}),
    ...(settings.https ? { httpsProxy: displayUrl(settings.https) } : {}),
    noProxy: settings.noProxy,
  };
}

/**
 * A 407 answer: only a proxy sends one, when its credentials are missing or wrong. Not retried
 * (auth), and it says where the credentials go.
 */
export function proxyAuthRefused(what: string, cause?: unknown): ModelSyncError {
  return new ModelSyncError(
    'auth',
    `${what}: the proxy refused the request (407 Proxy Authentication Required): give it user:password in the proxy URL (HTTPS_PROXY / HTTP_PROXY = http://user:password@proxy:port)`,
    cause === undefined ? undefined : { cause },
  );
}

/** NO_PROXY as a list of entries (comma-separated, blanks ignored), for ProxySettings. */
export function splitNoProxy(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
}

function noProxyMatcher(raw: string): Matcher[] {
  const entry = raw.trim().toLowerCase();
  if (entry === '') return [];
  if (entry === '*') return [() => true];

  const cidr = parseCidr(entry);
  if (cidr) return [(_host, _port, ip) => ip !== undefined && cidr.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')];

  const { host: entryHost, port: entryPort } = splitEntry(entry);
  if (entryHost === '') return []; // ":80" and the like: malformed, ignored as Go does
  const portOk = (port: string) => entryPort === '' || entryPort === port;

  const entryIp = ipOf(entryHost);
  if (entryIp !== undefined) {
    const one = new BlockList();
    one.addAddress(entryIp, isIP(entryIp) === 6 ? 'ipv6' : 'ipv4');
    return [(_host, port, ip) => ip !== undefined && isIP(ip) === isIP(entryIp) && one.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4') && portOk(port)];
  }

  // "example.com" matches it and its subdomains; ".example.com" and "*.example.com" subdomains only.
  let suffix = entryHost.startsWith('*.') ? entryHost.slice(1) : entryHost;
  const matchesItself = !suffix.startsWith('.');
  if (matchesItself) suffix = `.${suffix}`;
  suffix = asciiHost(suffix);
  return [(host, port) => (host.endsWith(suffix) || (matchesItself && host === suffix.slice(1))) && portOk(port)];
}

/** `10.0.0.0/8`, `fd00::/8`: the network (host bits may be set, as Go's ParseCIDR allows). */
function parseCidr(entry: string): BlockList | undefined {
  const slash = entry.indexOf('/');
  if (slash < 0) return undefined;
  const address = entry.slice(0, slash);
  const bits = entry.slice(slash + 1);
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > (family === 6 ? 128 : 32)) return undefined;
  const list = new BlockList();
  list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  return list;
}

/** `host`, `host:port`, `1.2.3.4:port`, `[::1]:port`, `::1` (an IPv6 literal has no port unless bracketed). */
function splitEntry(entry: string): { host: string; port: string } {
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ?? '' };
  const colon = entry.indexOf(':');
  if (colon >= 0 && colon === entry.lastIndexOf(':')) return { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
  return { host: entry, port: '' };
}

function asciiHost(hostname: string): string {
  const host = hostname.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (/^[\x00-\x7f]*$/.test(host)) return host;
  return domainToASCII(host) || host;
}

/** The address of an IP-literal host, an IPv4-mapped IPv6 address as the IPv4 one; undefined for names. */
function ipOf(host: string): string | undefined {
  const family = isIP(host);
  if (family === 4) return host;
  if (family !== 6) return undefined;
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(host);
  if (mapped?.[1]) return mapped[1];
  if (mapped?.[2] && mapped[3]) {
    const hi = parseInt(mapped[2], 16);
    const lo = parseInt(mapped[3], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

function isLoopback(ip: string): boolean {
  return LOOPBACK.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}
