// What an Azure Blob `--source-uri` names, split as KServe's storage initializer splits it: the
// account is the first label of `<account>.blob.core.windows.net`, the first path segment is the
// container and the rest (slashes trimmed) the prefix; a query is a SAS token. An emulator such as
// Azurite serves path-style URLs (`http://127.0.0.1:10000/<account>/<container>/<prefix>`): those
// are Azure URIs only below the endpoint AZURE_STORAGE_BLOB_ENDPOINT names.
import { ConfigError } from '../errors.js';
import { displayUrl } from '../util/display-url.js';

/** The Azure settings config/ reads from the environment (KServe's names). */
export interface AzureEnv {
  /** AZURE_STORAGE_ACCESS_KEY: the account's shared key. */
  accessKey?: string;
  /** AZ_CLIENT_ID or AZURE_CLIENT_ID (AZ_* win, as in KServe), and the tenant and secret likewise. */
  clientId?: string;
  tenantId?: string;
  clientSecret?: string;
  /** AZURE_AUTHORITY_HOST: where a service principal asks for its token (default Azure AD). */
  authorityHost?: string;
  /** AZURE_STORAGE_BLOB_ENDPOINT: a path-style endpoint `<scheme>://<host>[:port]/<account>` (Azurite). */
  blobEndpoint?: string;
}

export interface AzureBlobLocation {
  account: string;
  /** Service URL without query: `https://<account>.blob.core.windows.net` or the path-style endpoint. */
  serviceUrl: string;
  container: string;
  prefix: string;
  /** The SAS query (without `?`), when the URI carries one. */
  sas?: string;
  /** The URI as messages show it (query hidden). */
  display: string;
}

const AZURE_HOST = /^([a-z0-9]{3,24})\.blob\.core\.windows\.net$/i;

/** Whether `uri` is an Azure Blob URI: the public host, or below the configured path-style endpoint. */
export function isAzureBlobUri(uri: string, env: AzureEnv): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.protocol === 'https:' && AZURE_HOST.test(url.hostname)) return true;
  const endpoint = env.blobEndpoint ? endpointUrl(env.blobEndpoint) : undefined;
  return endpoint !== undefined && url.origin === endpoint.origin && (url.pathname + '/').startsWith(endpoint.pathname.replace(/\/*$/, '/'));
}

export function parseAzureBlobUri(uri: string, env: AzureEnv, setting: string): AzureBlobLocation {
  const url = new URL(uri);
  const display = displayUrl(uri);
  let account: string;
  let serviceUrl: string;
  let rest: string;
  const host = AZURE_HOST.exec(url.hostname);
  if (url.protocol === 'https:' && host) {
    account = host[1]!.toLowerCase();
    serviceUrl = `https://${url.host}`;
    rest = url.pathname;
  } else {
    const endpoint = endpointUrl(env.blobEndpoint!)!;
    const base = endpoint.pathname.replace(/\/+$/, '');
    account = base.split('/').pop() ?? '';
    if (!account) throw new ConfigError(`AZURE_STORAGE_BLOB_ENDPOINT: "${displayUrl(env.blobEndpoint!)}" names no account (use <scheme>://<host>:<port>/<account>)`);
    serviceUrl = `${endpoint.origin}${base}`;
    rest = url.pathname.slice(base.length);
  }
  const [container = '', ...path] = decodeURIComponent(rest).replace(/^\/+/, '').split('/');
  if (!container) throw new ConfigError(`${setting}: ${display} names no container (use https://<account>.blob.core.windows.net/<container>/<prefix>)`);
  const prefix = path.join('/').replace(/^\/+|\/+$/g, '');
  const sas = url.search.length > 1 ? url.search.slice(1) : undefined;
  return { account, serviceUrl, container, prefix, ...(sas ? { sas } : {}), display };
}

function endpointUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** How an Azure blob is named in messages: the service URL, container and blob name, no query. */
export function azureBlobUri(loc: AzureBlobLocation, name: string): string {
  return `${loc.serviceUrl}/${loc.container}/${name}`;
}
