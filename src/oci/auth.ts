// Registry authentication: anonymous, Basic (after a Basic challenge), Bearer tokens from the
// challenge's realm (distribution token flavour, or OAuth2 with an identity token), and a
// registry token used as is. Tokens are cached per scope set and refreshed before they expire;
// Basic credentials go only to the realm host that asked for them. Token services may live on other
// hosts (Docker Hub's does), but a realm must be http(s), and plain http only for a registry that is
// itself reached over plain http: anything else is refused before a credential is sent.
import { addSecret, displayUrl } from '../util/redact.js';
import type { RegistryCredentials } from './credentials.js';
import type { Logger } from '../log.js';
import type { AgentPool } from '../net/policy.js';
import { header, readBody, send, type HttpResponse } from '../net/request.js';
import { networkError, parseErrorBody, registryError, type ErrorContext } from './registry-errors.js';
import { ModelSyncError } from '../errors.js';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

/**
 * Merges scopes (`repository:name:actions`), joining the actions of the same resource, sorted,
 * so that equal needs give the same cache key.
 */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    for (const one of scope.split(' ').filter(Boolean)) {
      const cut = one.lastIndexOf(':');
      if (cut <= 0) continue;
      const resource = one.slice(0, cut);
      const actions = byResource.get(resource) ?? new Set<string>();
      for (const a of one.slice(cut + 1).split(',').filter(Boolean)) actions.add(a);
      byResource.set(resource, actions);
    }
  }
  return [...byResource.entries()].map(([r, a]) => `${r}:${[...a].sort().join(',')}`).sort();
}

interface CachedToken {
  value: string;
  /** When to stop using it (ms since epoch): a margin before its expiry. */
  refreshAt: number;
}

/** Seconds a token lives when the token service does not say (distribution's token spec). */
const DEFAULT_TOKEN_SECONDS = 60;

export class RegistryAuth {
  private scheme: 'anonymous' | 'basic' | 'bearer' | undefined;
  private bearer: Record<string, string> = {};
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Number of tokens obtained (for logs and tests). */
  tokensObtained = 0;

  constructor(
    private readonly pool: AgentPool,
    private readonly ctx: ErrorContext,
    private readonly credentials: RegistryCredentials | undefined,
    private readonly log: Logger,
    /** The registry's API base: a realm must not downgrade its scheme. */
    private readonly registryBase: URL,
  ) {
    if (credentials?.registryToken) addSecret(credentials.registryToken);
  }

  /** True once the scheme is known (from the /v2/ ping or a challenge). */
  get known(): boolean {
    return this.scheme !== undefined;
  }

  /** Learns the scheme from the /v2/ ping: 200 means anonymous, 401 carries the challenge. */
  learn(res: HttpResponse): void {
    if (res.status === 401) this.applyChallenge(parseChallenge(header(res, 'www-authenticate')));
    else this.scheme ??= 'anonymous';
  }

  private applyChallenge(challenge: Challenge | undefined): void {
    if (!challenge) {
      this.scheme = 'anonymous';
      return;
    }
    this.scheme = challenge.scheme;
    if (challenge.scheme === 'bearer') this.bearer = challenge.params;
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async authorization(scopes: string[]): Promise<string | undefined> {
    if (this.credentials?.registryToken) return `Bearer ${this.credentials.registryToken}`;
    if (this.scheme === 'basic') return this.basicHeader();
    if (this.scheme === 'bearer') return `Bearer ${await this.token(scopes, false)}`;
    return undefined;
  }

  /**
   * Called on a 401: learns the challenge and prepares a fresh token. Returns true when sending
   * the request again can help (a new token, or credentials not sent yet).
   */
  async onUnauthorized(res: HttpResponse, scopes: string[]): Promise<boolean> {
    if (this.credentials?.registryToken) return false;
    const before = this.scheme;
    const challenge = parseChallenge(header(res, 'www-authenticate'));
    this.applyChallenge(challenge);
    if (this.scheme === 'basic') return before !== 'basic' && this.basicHeader() !== undefined;
    if (this.scheme === 'bearer') {
      const needed = mergeScopes([...scopes, ...(challenge?.params.scope ? [challenge.params.scope] : [])]);
      await this.token(needed, true);
      if (needed.join(' ') !== mergeScopes(scopes).join(' ')) {
        // The registry asked for more than we did: remember it for this request's scope set.
        this.tokens.set(mergeScopes(scopes).join(' '), this.tokens.get(needed.join(' '))!);
      }
      return true;
    }
    return false;
  }

  /** Hint for a final 401/403, naming what was (or was not) sent. */
  hint(): string {
    const c = this.credentials;
    if (!c || (!c.username && !c.password && !c.identityToken && !c.registryToken)) return 'no credentials were given for this registry';
    if (c.registryToken) return 'the registry token was not accepted';
    if (c.identityToken) return 'the identity token was not accepted or lacks access';
    return `the credentials of user "${c.username ?? ''}" were not accepted or lack access`;
  }

  private basicHeader(): string | undefined {
    const c = this.credentials;
    if (!c?.username && !c?.password) return undefined;
    return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
  }

  private async token(scopes: string[], force: boolean): Promise<string> {
    const merged = mergeScopes(scopes);
    const key = merged.join(' ');
    const cached = this.tokens.get(key);
    if (!force && cached && Date.now() < cached.refreshAt) return cached.value;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(merged).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async fetchToken(scopes: string[]): Promise<string> {
    const realm = this.bearer.realm;
    if (!realm) throw new ModelSyncError('auth', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.ctx.registry} asked for a bearer token without naming a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ModelSyncError('auth', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.ctx.registry} named an invalid token realm "${realm}"`);
    }
    const refusal = realmRefusal(url, this.registryBase);
    if (refusal) throw new ModelSyncError('auth', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.ctx.registry} named the token realm ${displayUrl(url)}, ${refusal}`);
    const service = this.bearer.service;
    const started = Date.now();
    let res: HttpResponse;
    try {
      res = this.credentials?.identityToken ? await this.oauth2Request(url, service, scopes) : await this.tokenRequest(url, service, scopes);
    } catch (err) {
      throw networkError(this.ctx, err, url.host);
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status !== 200) {
      const parsed = parseErrorBody(body);
      if (res.status === 401 || res.status === 403) {
        throw new ModelSyncError(
          'auth',
          `cannot ${this.ctx.operation} ${this.ctx.subject}: the token service ${url.host} of registry ${this.ctx.registry} refused a token for ${scopes.join(' ')} (HTTP ${res.status}${parsed?.message ? `: ${parsed.message}` : ''}); ${this.hint()}`,
        );
      }
      throw registryError({ ...this.ctx, registry: `${this.ctx.registry} (token service ${url.host})` }, res.status, body, 'a token');
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ModelSyncError('auth', `cannot ${this.ctx.operation} ${this.ctx.subject}: the token service ${url.host} of registry ${this.ctx.registry} sent an answer that is not JSON`);
    }
    const value = parsed.token || parsed.access_token;
    if (!value) throw new ModelSyncError('auth', `cannot ${this.ctx.operation} ${this.ctx.subject}: the token service ${url.host} of registry ${this.ctx.registry} sent no token`);
    addSecret(value);
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    // Refresh ahead of expiry so that a request never starts with a token about to lapse.
    const margin = Math.min(10_000, (seconds * 1000) / 2);
    this.tokens.set(scopes.join(' '), { value, refreshAt: started + seconds * 1000 - margin });
    this.tokensObtained++;
    this.log.debug({ registry: this.ctx.registry, scopes, expiresIn: seconds }, 'obtained a registry token');
    return value;
  }

  private tokenRequest(realm: URL, service: string | undefined, scopes: string[]): Promise<HttpResponse> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    const basic = this.basicHeader();
    if (basic) headers.authorization = basic; // only to the realm that challenged us
    return send({ method: 'GET', url, headers }, this.pool);
  }

  private oauth2Request(realm: URL, service: string | undefined, scopes: string[]): Promise<HttpResponse> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.credentials!.identityToken!, client_id: 'model-sync' });
    if (service) form.set('service', service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    return send(
      {
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: Buffer.from(form.toString()),
      },
      this.pool,
    );
  }
}

/**
 * Why credentials must not go to `realm`, or undefined when they may. Exit 4 (auth) rather than 2
 * (config): the realm comes from the registry's challenge, not from any setting of ours.
 */
export function realmRefusal(realm: URL, registryBase: URL): string | undefined {
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
    return `whose scheme ${realm.protocol} is not http or https; refusing to send credentials there (the registry's token realm must be an https URL)`;
  }
  if (realm.protocol === 'http:' && registryBase.protocol === 'https:') {
    return `over plain http while the registry is reached over https; refusing to send credentials without TLS (the registry's token realm must be an https URL)`;
  }
  return undefined;
}
