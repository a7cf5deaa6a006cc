// Where and how to reach Model Registry: base URL, Bearer token and TLS trust (config/settings.ts
// resolves them from the registry-* settings, as the upstream Python client does).
import { ConfigError } from '../errors.js';
import type { TlsTrust } from '../net/tls-trust.js';

export const API_BASE_PATH = '/api/model_registry/v1alpha3';
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface RegistryConnection {
  /** e.g. https://registry.example:443/api/model_registry/v1alpha3 (no trailing slash) */
  baseUrl: string;
  token?: string;
  /** Where the token came from, for logs (never the token). */
  tokenSource?: string;
  /** A custom CA bundle for https and the environment's, trusted on top of the system roots (net/ adds those). */
  trust?: TlsTrust;
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
