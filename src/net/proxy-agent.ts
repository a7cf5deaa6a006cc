// The agents of a pool when a proxy is set: each request goes to a direct agent or to a proxy
// agent (http-proxy-agent for http://, https-proxy-agent's CONNECT tunnel for https://), as
// ProxyRules decide for its host and port. Both keep the pool's options: keep-alive, socket
// limits, TLS verification and CA, which for https reach the TLS session inside the tunnel.
import http from 'node:http';
import https from 'node:https';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { ProxyRules, type ProxySettings } from './proxy-rules.js';

type Protocol = 'http:' | 'https:';

/** The options of the TLS session with the server, which https-proxy-agent takes from each request. */
const TLS_KEYS = ['ca', 'cert', 'key', 'secureContext', 'rejectUnauthorized', 'checkServerIdentity', 'minVersion', 'ciphers'] as const;

/** What Node's http.ClientRequest calls on its agent; not in @types/node. */
interface RequestAdder {
  addRequest(req: http.ClientRequest, options: http.RequestOptions & Record<string, unknown>): void;
}

/** Makes pool agents that route by ProxyRules; the argument order matches NetPolicy.agentFactory. */
export function proxyAgentFactory(settings: ProxySettings): (protocol: Protocol, options: https.AgentOptions) => http.Agent {
  const rules = new ProxyRules(settings);
  return (protocol, options) => new RoutingAgent(protocol, options, rules, protocol === 'https:' ? settings.https : settings.http);
}

/** Sends each request direct or through the proxy, per NO_PROXY. */
export class RoutingAgent extends http.Agent {
  readonly direct: http.Agent;
  readonly proxied: http.Agent | undefined = undefined;
  private readonly tls: Record<string, unknown>;

  constructor(
    private readonly scheme: Protocol,
    options: https.AgentOptions,
    private readonly rules: ProxyRules,
    proxy: URL | undefined,
  ) {
    super(options);
    // ClientRequest checks the agent's protocol against the URL's, and takes its default port.
    Object.assign(this, { protocol: scheme, defaultPort: scheme === 'https:' ? 443 : 80 });
    this.direct = scheme === 'https:' ? new https.Agent(options) : new http.Agent(options);
    this.tls = Object.fromEntries(TLS_KEYS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
    // Options are given explicitly: neither library reads the environment for its proxy.
    if (proxy) {
      const { url, headers } = withoutCredentials(proxy);
      this.proxied = scheme === 'https:' ? new HttpsProxyAgent(url, { ...options, headers }) : new HttpProxyAgent(url, { ...options, headers });
    }
  }

  /** The proxy a request to this host and port goes through, or undefined when it goes direct. */
  proxyFor(hostname: string, port: string | number | undefined): URL | undefined {
    return this.proxied ? this.rules.proxyFor({ protocol: this.scheme, hostname, port }) : undefined;
  }

  addRequest(req: http.ClientRequest, options: http.RequestOptions & Record<string, unknown>): void {
    const hostname = String(options.hostname ?? options.host ?? 'localhost');
    if (!this.proxied || !this.proxyFor(hostname, options.port ?? undefined)) {
      (this.direct as unknown as RequestAdder).addRequest(req, options);
      return;
    }
    // secureEndpoint: agent-base would otherwise guess the scheme (the S3 SDK sets no protocol).
    const tunnelled = { ...this.tls, ...definedOnly(options), secureEndpoint: this.scheme === 'https:' };
    (this.proxied as unknown as RequestAdder).addRequest(req, tunnelled);
  }

  override destroy(): void {
    this.direct.destroy();
    this.proxied?.destroy();
    super.destroy();
  }
}

/**
 * The proxy URL without user info, and the Proxy-Authorization it stood for: the libraries' own
 * debug output (DEBUG=*) prints the URL, never the headers.
 */
function withoutCredentials(proxy: URL): { url: URL; headers: Record<string, string> } {
  const url = new URL(proxy.href);
  if (!url.username && !url.password) return { url, headers: {} };
  const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url, headers: { 'Proxy-Authorization': `Basic ${Buffer.from(pair).toString('base64')}` } };
}

function definedOnly(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
