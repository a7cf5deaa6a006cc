// Connection pools for every HTTP client of model-sync: the OCI registry client, web and Hugging
// Face sources, the Model Registry client and the S3 SDK. They are node:http/node:https Agents,
// not undici dispatchers, because the S3 SDK's NodeHttpHandler takes node:http agents: one pool
// type means one TLS and one proxy policy for all of them.
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { proxyAgentFactory } from './proxy-agent.js';
import type { ProxySettings } from './proxy-rules.js';

export type AgentOptions = https.AgentOptions;

export interface NetPolicy {
  /** Verify server certificates. */
  tlsVerify: boolean;
  /** Extra CA certificates (PEM) trusted on top of the system roots. */
  ca?: string | string[];
  /** Sockets per host and protocol (default 16). */
  maxSockets?: number;
  /** Time to establish a connection (ms); unset leaves it to the OS. */
  connectTimeoutMs?: number;
  /** Time a socket may stay silent before the request fails as ETIMEDOUT (ms, default 120 s). */
  idleTimeoutMs?: number;
  /** HTTP_PROXY, HTTPS_PROXY and NO_PROXY as config/ read them; unset goes direct. */
  proxy?: ProxySettings | undefined;
  /**
   * Makes the agent for a protocol instead of `new http.Agent` / `new https.Agent`; by default,
   * with `proxy` set, an agent that decides per request between direct and proxy (NO_PROXY).
   */
  agentFactory?: (protocol: 'http:' | 'https:', options: AgentOptions) => http.Agent;
}

/**
 * What every HTTP client of one step shares, set once by config/ (--network-timeout,
 * --retry-attempts): each client builds its pool and retry policy from it. Later network settings
 * (a proxy, CA bundles) belong here too, so that they reach every client at once.
 */
export interface NetworkSettings {
  /** A socket silent this long fails as ETIMEDOUT, and is retried (ms). */
  idleTimeoutMs: number;
  /** Attempts per request, the first included. */
  retryAttempts: number;
  /** The forward proxies (HTTP_PROXY, HTTPS_PROXY, NO_PROXY); unset goes direct. */
  proxy?: ProxySettings | undefined;
}

/** Options of the S3 SDK's NodeHttpHandler, from the same policy as our own requests. */
export interface S3HandlerOptions {
  httpAgent: http.Agent;
  httpsAgent: http.Agent;
  connectionTimeout?: number;
  socketTimeout: number;
}

const DEFAULT_MAX_SOCKETS = 16;
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** Keep-alive agents for http and https made from one policy; `close()` ends their sockets. */
export class AgentPool {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: http.Agent;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number | undefined;

  constructor(policy: NetPolicy) {
    const maxSockets = policy.maxSockets ?? DEFAULT_MAX_SOCKETS;
    const common: AgentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    const make = policy.agentFactory ?? (policy.proxy ? proxyAgentFactory(policy.proxy) : directAgent);
    this.httpAgent = make('http:', common);
    this.httpsAgent = make('https:', { ...common, rejectUnauthorized: policy.tlsVerify, ...(policy.ca ? { ca: withSystemRoots(policy.ca) } : {}) });
    this.idleTimeoutMs = policy.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.connectTimeoutMs = policy.connectTimeoutMs;
  }

  agent(url: URL): http.Agent {
    return url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
  }

  s3Handler(): S3HandlerOptions {
    return {
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      ...(this.connectTimeoutMs !== undefined ? { connectionTimeout: this.connectTimeoutMs } : {}),
      socketTimeout: this.idleTimeoutMs,
    };
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function directAgent(protocol: 'http:' | 'https:', options: AgentOptions): http.Agent {
  return protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

/** `ca` replaces Node's trust store, so the system roots go first (once, even if the caller added them). */
function withSystemRoots(ca: string | string[]): string[] {
  return [...new Set([...rootCertificates, ...(Array.isArray(ca) ? ca : [ca])])];
}
