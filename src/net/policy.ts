// Connection pools for every HTTP client of model-sync: the OCI registry client, web and Hugging
// Face sources, the Model Registry client and the S3 SDK. They are node:http/node:https Agents,
// not undici dispatchers, because the S3 SDK's NodeHttpHandler takes node:http agents: one pool
// type means one TLS and one proxy policy for all of them.
import http from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import type { ModelSyncError } from '../errors.js';
import { proxyAgentFactory } from './proxy-agent.js';
import type { ProxySettings } from './proxy-rules.js';
import { certificateFailure } from './tls-errors.js';
import { tlsOptionsFor, type TlsTrust } from './tls-trust.js';

export type AgentOptions = https.AgentOptions;

export interface NetPolicy {
  /** Verify server certificates. */
  tlsVerify: boolean;
  /** Extra CA certificates (PEM) trusted on top of the system roots (shorthand for trust.ca). */
  ca?: string | string[];
  /** What this endpoint trusts beyond the system roots, and how a failure names its settings. */
  trust?: TlsTrust | undefined;
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
 * --retry-attempts, the proxies): each client builds its pool and retry policy from it. CAs are not
 * here: they differ per endpoint, so each endpoint carries its own TlsTrust.
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

/**
 * Keep-alive agents for http and https made from one policy; `close()` ends their sockets. A host
 * with CAs or a client certificate of its own (certs.d) gets an https agent of its own.
 */
export class AgentPool {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: http.Agent;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number | undefined;
  private readonly trust: TlsTrust | undefined;
  private readonly hostAgents = new Map<string, http.Agent>();
  private readonly makeHttps: (host: string | undefined) => http.Agent;

  constructor(policy: NetPolicy) {
    const maxSockets = policy.maxSockets ?? DEFAULT_MAX_SOCKETS;
    const common: AgentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    const make = policy.agentFactory ?? (policy.proxy ? proxyAgentFactory(policy.proxy) : directAgent);
    const given = policy.ca === undefined ? [] : Array.isArray(policy.ca) ? policy.ca : [policy.ca];
    this.trust = given.length ? { ...policy.trust, ca: [...(policy.trust?.ca ?? []), ...given] } : policy.trust;
    this.makeHttps = (host) => make('https:', { ...common, rejectUnauthorized: policy.tlsVerify, ...secureContextOf(this.trust, host) });
    this.httpAgent = make('http:', common);
    this.httpsAgent = this.makeHttps(undefined);
    this.idleTimeoutMs = policy.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.connectTimeoutMs = policy.connectTimeoutMs;
  }

  agent(url: URL): http.Agent {
    if (url.protocol !== 'https:') return this.httpAgent;
    if (!this.trust?.forHost?.(url.host)) return this.httpsAgent;
    let agent = this.hostAgents.get(url.host);
    if (!agent) {
      agent = this.makeHttps(url.host);
      this.hostAgents.set(url.host, agent);
    }
    return agent;
  }

  /** A certificate failure reaching `host` as a one-line config error naming the settings; undefined for other faults. */
  certificateFailure(err: unknown, host: string): ModelSyncError | undefined {
    return certificateFailure(err, host, this.trust);
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
    for (const agent of this.hostAgents.values()) agent.destroy();
  }
}

/**
 * One secure context per agent: a `ca` option would make Node parse the whole bundle (the system
 * roots included, some 50 ms) again for every connection.
 */
function secureContextOf(trust: TlsTrust | undefined, host: string | undefined): AgentOptions {
  const options = tlsOptionsFor(trust, host);
  if (!options.ca && !options.cert) return {};
  return { secureContext: createSecureContext(options) };
}

function directAgent(protocol: 'http:' | 'https:', options: AgentOptions): http.Agent {
  return protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}
