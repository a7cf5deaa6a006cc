// Where and how to reach Model Registry: base URL, Bearer token and TLS trust, from the
// registry-* settings, as the upstream Python client resolves them.
import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Config } from '../config/config.js';
import { addSecret } from '../util/redact.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';

export const API_BASE_PATH = '/api/model_registry/v1alpha3';
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface RegistryConnection {
  /** e.g. https://registry.example:443/api/model_registry/v1alpha3 (no trailing slash) */
  baseUrl: string;
  token?: string;
  /** Where the token came from, for logs (never the token). */
  tokenSource?: string;
  /** Trusted CAs for https (system roots plus the custom bundle), when a custom bundle is set. */
  ca?: string[];
  /** Verify the server certificate (secure mode); upstream turns verification off when insecure. */
  verifyTls: boolean;
}

/**
 * Base URL: an address with a scheme keeps it; without one, secure picks https, else http. The port
 * is appended unless the address carries one (upstream: host = address if it has a port, else address:port).
 */
export function registryBaseUrl(address: string, port: number, secure: boolean): string {
  const trimmed = address.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `${secure ? 'https' : 'http'}://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(`registry server address "${address}" is not a valid host or URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`registry server address "${address}" must use http or https`);
  }
  if (!hasExplicitPort(withScheme)) url.port = String(port);
  const prefix = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${prefix}${API_BASE_PATH}`;
}

/** URL normalises default ports away, so look at the text itself. */
function hasExplicitPort(urlText: string): boolean {
  const authority = urlText.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/)[0] ?? '';
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  return /:\d+$/.test(hostPort.replace(/^\[[^\]]*\]/, ''));
}

export interface TokenLookup {
  token?: string;
  tokenEnvVar?: string;
  env: NodeJS.ProcessEnv;
  /** The pod's service-account token path (tests point it elsewhere). */
  serviceAccountTokenPath?: string;
  describeToken: string;
  describeEnvVar: string;
  log?: Logger;
}

/** The Bearer token: the value, else the file named by $<envvar>, else $KF_PIPELINES_SA_TOKEN_PATH, else the SA token. */
export function resolveToken(o: TokenLookup): { token?: string; source?: string } {
  if (o.token) return remember({ token: o.token.trim(), source: o.describeToken });
  if (o.tokenEnvVar) {
    const file = o.env[o.tokenEnvVar];
    if (file) return remember({ token: readToken(file, `the file named by $${o.tokenEnvVar} (${o.describeEnvVar})`), source: `$${o.tokenEnvVar}` });
    o.log?.warn(`${o.describeEnvVar} names $${o.tokenEnvVar}, which is not set; looking further for a token`);
  }
  const kfp = o.env.KF_PIPELINES_SA_TOKEN_PATH;
  if (kfp) return remember({ token: readToken(kfp, 'the file named by $KF_PIPELINES_SA_TOKEN_PATH'), source: '$KF_PIPELINES_SA_TOKEN_PATH' });
  const sa = o.serviceAccountTokenPath ?? SERVICE_ACCOUNT_TOKEN_PATH;
  if (existsSync(sa)) return remember({ token: readToken(sa, 'the service-account token'), source: sa });
  return {};
}

function remember(found: { token?: string; source?: string }): { token?: string; source?: string } {
  addSecret(found.token);
  return found.token ? found : {};
}

function readToken(file: string, what: string): string {
  try {
    const token = readFileSync(file, 'utf8').trim();
    addSecret(token);
    if (!token) throw new ConfigError(`Model Registry token file ${file} (${what}) is empty`);
    return token;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Model Registry token file ${file} (${what}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function connectionFromConfig(
  config: Config,
  opts: { env?: NodeJS.ProcessEnv; serviceAccountTokenPath?: string; log?: Logger } = {},
): RegistryConnection {
  const env = opts.env ?? process.env;
  const secure = config.boolean('registry-is-secure');
  const baseUrl = registryBaseUrl(config.required('registry-server-address'), config.integer('registry-port'), secure);
  const { token, source } = resolveToken({
    token: config.string('registry-user-token'),
    tokenEnvVar: config.string('registry-user-token-envvar'),
    env,
    serviceAccountTokenPath: opts.serviceAccountTokenPath,
    describeToken: config.describe('registry-user-token'),
    describeEnvVar: config.describe('registry-user-token-envvar'),
    log: opts.log,
  });
  let ca: string[] | undefined;
  const caVar = config.string('registry-custom-ca-envvar');
  const caFile = config.string('registry-custom-ca') ?? (caVar ? env[caVar] : undefined);
  if (caFile) {
    const where = config.string('registry-custom-ca') ? config.describe('registry-custom-ca') : `$${caVar} (${config.describe('registry-custom-ca-envvar')})`;
    try {
      ca = [...rootCertificates, readFileSync(caFile, 'utf8')];
    } catch (err) {
      throw new ConfigError(`Model Registry CA bundle ${caFile} (${where}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else if (caVar && !env[caVar]) {
    opts.log?.warn(`${config.describe('registry-custom-ca-envvar')} names $${caVar}, which is not set; using the system CAs`);
  }
  if (secure && !token) opts.log?.warn('no Model Registry token found; sending requests without Authorization');
  return { baseUrl, ...(token ? { token, tokenSource: source } : {}), ...(ca ? { ca } : {}), verifyTls: secure };
}
