// Fetch source `uri`: dispatch on the scheme.
import { ConfigError, ModelSyncError } from '../errors.js';
import type { TlsTrust } from '../net/tls-trust.js';
import type { RangedTuning } from '../s3/download.js';
import type { Inventory } from '../workspace/records.js';
import { fetchFromAzure } from './azure.js';
import { isAzureBlobUri, type AzureEnv } from './azure-uri.js';
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
  /** Azure Blob credentials and the path-style endpoint (AZURE_STORAGE_*, AZURE_CLIENT_*, AZ_*). */
  azure?: AzureEnv;
  /** How large blobs split into ranged reads (s3-part-size, s3-ranged-threshold, as for S3). */
  ranged?: RangedTuning;
}

export async function fetchFromUri(ctx: FetchContext, source: UriSource): Promise<Inventory> {
  switch (uriKind(source)) {
    case 'azure':
      if (!source.ranged) throw new ModelSyncError('internal', 'an Azure Blob source needs its ranged tuning (config/ sets it)');
      return fetchFromAzure(ctx, source.uri, source.setting, source.azure ?? {}, source.ranged);
    case 'web':
      return fetchFromHttp(ctx, source.uri, source.setting, source.trust);
    case 'hf':
      return fetchFromHuggingFace(ctx, source.uri, source.setting, source.hf, source.trust);
    case 'local':
      return fetchFromLocal(ctx, source.uri, source.pvcMountRoot, source.setting);
  }
}

/** Which kind of source a `uri` names, by its scheme; an unsupported scheme is a ConfigError. */
export function uriKind(source: UriSource): 'azure' | 'web' | 'hf' | 'local' {
  if (isAzureBlobUri(source.uri, source.azure ?? {})) return 'azure';
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
