// Fetch source `uri`: dispatch on the scheme.
import { ConfigError } from '../errors.js';
import type { TlsTrust } from '../net/tls-trust.js';
import type { Inventory } from '../workspace/records.js';
import { fetchFromHuggingFace } from './hf.js';
import { fetchFromHttp } from './http.js';
import { fetchFromLocal } from './local.js';
import type { FetchContext } from './session.js';

/** A `uri` source as config/ resolves it. */
export interface UriSource {
  uri: string;
  /** The flag and env var that set it, for messages. */
  setting: string;
  pvcMountRoot: string;
  /** $HF_ENDPOINT and $HF_TOKEN (or $HUGGING_FACE_HUB_TOKEN), for hf:// */
  hf: { endpoint: string; token?: string };
  /** CAs beyond the system roots for http(s) and the Hub (a CA bundle setting, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS). */
  trust?: TlsTrust;
}

export async function fetchFromUri(ctx: FetchContext, source: UriSource): Promise<Inventory> {
  switch (uriKind(source)) {
    case 'web':
      return fetchFromHttp(ctx, source.uri, source.setting, source.trust);
    case 'hf':
      return fetchFromHuggingFace(ctx, source.uri, source.setting, source.hf, source.trust);
    case 'local':
      return fetchFromLocal(ctx, source.uri, source.pvcMountRoot, source.setting);
  }
}

/** Which kind of source a `uri` names, by its scheme; an unsupported scheme is a ConfigError. */
export function uriKind(source: UriSource): 'web' | 'hf' | 'local' {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(source.uri)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'http':
    case 'https':
      return 'web';
    case 'hf':
      return 'hf';
    case 'file':
    case 'pvc':
    case undefined:
      return 'local';
    default:
      throw new ConfigError(
        `${source.setting}: unsupported scheme "${scheme}://" (use http(s)://, hf://, file://, pvc:// or a path; for S3 or OCI set --source-type)`,
      );
  }
}
