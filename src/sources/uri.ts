// Fetch source `uri`: dispatch on the scheme.
import { ConfigError } from '../errors.js';
import type { StepContext } from '../steps/types.js';
import type { Inventory } from '../workspace/records.js';
import { fetchFromHuggingFace } from './hf.js';
import { fetchFromHttp } from './http.js';
import { fetchFromLocal } from './local.js';

export async function fetchFromUri(ctx: StepContext): Promise<Inventory> {
  const uri = ctx.config.required('source-uri', 'when --source-type is uri').trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'http':
    case 'https':
      return fetchFromHttp(ctx, uri);
    case 'hf':
      return fetchFromHuggingFace(ctx, uri);
    case 'file':
    case 'pvc':
    case undefined:
      return fetchFromLocal(ctx, uri);
    default:
      throw new ConfigError(
        `${ctx.config.describe('source-uri')}: unsupported scheme "${scheme}://" (use http(s)://, hf://, file://, pvc:// or a path; for S3 or OCI set --source-type)`,
      );
  }
}
