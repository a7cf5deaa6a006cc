// Preflight's probe of a `uri` source: dispatch on the scheme, as fetchFromUri does.
import { ConfigError } from '../errors.js';
import { probeAzureSource } from './azure.js';
import { isAzureBlobUri } from './azure-uri.js';
import { probeLocalSource } from './local.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { probeHfSource, probeHttpSource } from './probe-web.js';
import type { UriSource } from './uri.js';

export async function probeUriSource(ctx: SourceProbeContext, source: UriSource): Promise<SourceProbe> {
  if (isAzureBlobUri(source.uri, source.azure ?? {})) return probeAzureSource(ctx, source.uri, source.setting, source.azure ?? {});
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(source.uri)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return probeHttpSource(ctx, source.uri, source.setting, source.trust);
  if (scheme === 'hf') return probeHfSource(ctx, source.uri, source.setting, source.hf, source.trust);
  if (scheme !== undefined && scheme !== 'file' && scheme !== 'pvc') {
    throw new ConfigError(`${source.setting}: unsupported scheme "${scheme}://" (use http(s)://, hf://, file://, pvc:// or a path; for S3 or OCI set --source-type)`);
  }
  return probeLocalSource(ctx, source.uri, source.pvcMountRoot, source.setting);
}
