// Fetch source: an Azure Blob container prefix (every blob under <prefix>/) or a single blob,
// named by an Azure Blob URI (azure-uri.ts). Blobs download as S3 objects do (session.ts downloadListed over
// s3/download.ts with a RangeReader): parallel ranged reads above the threshold, a kept
// partial file that a run after a kill resumes, sha256 as the bytes land, and the fetch session's
// complete-files-only inventory.
import type { Readable } from 'node:stream';
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { ModelSyncError } from '../errors.js';
import type { RangedTuning, RangeReader } from '../s3/download.js';
import { checkAnswer } from '../s3/verify.js';
import { addSecret } from '../util/redact.js';
import { normaliseRelative, safeJoin } from '../workspace/safe-path.js';
import type { Inventory } from '../workspace/records.js';
import { azureBlobUri, parseAzureBlobUri, type AzureBlobLocation, type AzureEnv } from './azure-uri.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { downloadListed, identityOf, isRecordedComplete, withSession, type FetchContext } from './session.js';
import { readRecord } from '../workspace/records.js';

export interface AzureBlobEntry {
  /** The blob name. */
  key: string;
  relative: string;
  size: number;
  etag?: string;
}

/** The credential a run uses and how messages name the setting behind it. */
interface ChosenCredential {
  credential: StorageSharedKeyCredential | AnonymousCredential | TokenCredential;
  /** Which setting a refusal points at. */
  setting: string;
  kind: 'sas' | 'service-principal' | 'shared-key' | 'anonymous';
}

const SP_SETTING = 'AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET (or AZ_CLIENT_ID / AZ_TENANT_ID / AZ_CLIENT_SECRET)';

/**
 * KServe's order (storage.py: `_get_azure_storage_token() or _get_azure_storage_access_key()`):
 * a service principal when a client id is set, else the shared key AZURE_STORAGE_ACCESS_KEY, else
 * anonymous. A SAS token in the URI is the credential itself and wins over both.
 */
export function chooseAzureCredential(loc: AzureBlobLocation, env: AzureEnv, uriSetting: string): ChosenCredential {
  if (loc.sas) {
    const sig = new URLSearchParams(loc.sas).get('sig') ?? undefined;
    addSecret(sig);
    addSecret(sig && encodeURIComponent(sig));
    return { credential: new AnonymousCredential(), setting: `the SAS token in ${uriSetting}`, kind: 'sas' };
  }
  if (env.clientId) {
    addSecret(env.clientSecret);
    // Another authority host (a sovereign cloud, Azure Stack) is trusted as named, not looked up
    // at login.microsoftonline.com first.
    const options = env.authorityHost ? { authorityHost: env.authorityHost, disableInstanceDiscovery: true } : {};
    const credential = env.tenantId && env.clientSecret
      ? new ClientSecretCredential(env.tenantId, env.clientId, env.clientSecret, options)
      : new DefaultAzureCredential({ ...options, managedIdentityClientId: env.clientId, ...(env.tenantId ? { tenantId: env.tenantId } : {}) });
    return { credential, setting: SP_SETTING, kind: 'service-principal' };
  }
  if (env.accessKey) {
    addSecret(env.accessKey);
    try {
      return { credential: new StorageSharedKeyCredential(loc.account, env.accessKey), setting: 'AZURE_STORAGE_ACCESS_KEY', kind: 'shared-key' };
    } catch {
      throw new ModelSyncError('config', 'AZURE_STORAGE_ACCESS_KEY: not a base64 account key');
    }
  }
  return { credential: new AnonymousCredential(), setting: `anonymous access (set AZURE_STORAGE_ACCESS_KEY, a service principal or a SAS token in ${uriSetting})`, kind: 'anonymous' };
}

export async function fetchFromAzure(ctx: FetchContext, uri: string, uriSetting: string, env: AzureEnv, tuning: RangedTuning): Promise<Inventory> {
  const loc = parseAzureBlobUri(uri, env, uriSetting);
  const source = azureBlobUri(loc, loc.prefix);
  return withSession(ctx, source, async (session) => {
    const chosen = chooseAzureCredential(loc, env, uriSetting);
    const container = containerClient(loc, chosen, ctx.network.retryAttempts);
    const fail = (err: unknown, action: string, name: string) => azureError(err, action, azureBlobUri(loc, name), chosen, uriSetting);
    ctx.log.info({ source, account: loc.account, container: loc.container, prefix: loc.prefix, credential: chosen.kind }, 'listing Azure Blob source');
    const listed = await listAzureSource(container, loc, ctx.workspace.modelDir, fail);
    const blobs = session.paths.keep(listed, (b) => b.relative, source, ctx.log);
    const total = blobs.reduce((n, b) => n + b.size, 0);
    ctx.log.info({ files: blobs.length, bytes: total }, `found ${blobs.length} blob(s)`);
    await downloadListed(ctx, session, source, blobs, tuning, (b) => `Azure blob ${azureBlobUri(loc, b.key)}`, (b) => ({ reader: blobReader(container, loc, b, fail, ctx.signal) }));
  });
}

/**
 * For preflight: the prefix (or blob) exists and the credentials may list it, and what fetch would
 * still download. Reads no blob body.
 */
export async function probeAzureSource(ctx: SourceProbeContext, uri: string, uriSetting: string, env: AzureEnv): Promise<SourceProbe> {
  const loc = parseAzureBlobUri(uri, env, uriSetting);
  const source = azureBlobUri(loc, loc.prefix);
  const chosen = chooseAzureCredential(loc, env, uriSetting);
  const container = containerClient(loc, chosen, ctx.network.retryAttempts);
  const blobs = await listAzureSource(container, loc, ctx.workspace.modelDir, (err, action, name) => azureError(err, action, azureBlobUri(loc, name), chosen, uriSetting));
  const record = await readRecord(ctx.workspace, 'fetch');
  const previous = record?.source === source ? record : undefined;
  let needed = 0;
  for (const b of blobs) if (!(await isRecordedComplete(ctx.workspace, previous, b.relative, identityOf(b)))) needed += b.size;
  return { label: source, files: blobs.length, needed: { bytes: needed } };
}

function containerClient(loc: AzureBlobLocation, chosen: ChosenCredential, attempts: number): ContainerClient {
  const url = loc.sas ? `${loc.serviceUrl}?${loc.sas}` : loc.serviceUrl;
  const service = new BlobServiceClient(url, chosen.credential, { retryOptions: { maxTries: Math.max(1, attempts) } });
  return service.getContainerClient(loc.container);
}

/**
 * The blobs under `<prefix>/` (paged), or the single blob named `<prefix>`, as S3 prefixes are
 * read: `my-model` never picks up `my-model2/x`, folder markers are skipped, and a name that would
 * land outside model/ fails the fetch (`unsafe`) before anything is downloaded.
 */
export async function listAzureSource(
  container: ContainerClient,
  loc: AzureBlobLocation,
  modelDir: string,
  fail: (err: unknown, action: string, name: string) => Error,
): Promise<AzureBlobEntry[]> {
  const folder = loc.prefix === '' ? '' : `${loc.prefix}/`;
  const under: AzureBlobEntry[] = [];
  let single: AzureBlobEntry | undefined;
  try {
    for await (const page of container.listBlobsFlat({ prefix: loc.prefix }).byPage({ maxPageSize: 5000 })) {
      for (const b of page.segment.blobItems) {
        const size = b.properties.contentLength ?? 0;
        const etag = b.properties.etag;
        if (b.name === loc.prefix) single = entry(loc, b.name, b.name.split('/').pop()!, size, etag, modelDir);
        else if (b.name.startsWith(folder) && !b.name.endsWith('/')) under.push(entry(loc, b.name, b.name.slice(folder.length), size, etag, modelDir));
      }
    }
  } catch (err) {
    throw fail(err, 'listing', folder);
  }
  if (under.length > 0) {
    assertDistinct(loc, under);
    return under;
  }
  if (single) return [single];
  const where = azureBlobUri(loc, loc.prefix);
  throw new ModelSyncError('notFound', loc.prefix === '' ? `${where}: the container holds no blobs` : `${where}: no blob with this name and no blobs under ${azureBlobUri(loc, folder)}`);
}

function entry(loc: AzureBlobLocation, name: string, relative: string, size: number, etag: string | undefined, modelDir: string): AzureBlobEntry {
  safeJoin(modelDir, relative, `Azure blob ${azureBlobUri(loc, name)}`); // throws `unsafe` for hostile names
  return { key: name, relative: normaliseRelative(relative), size, ...(etag ? { etag } : {}) };
}

function assertDistinct(loc: AzureBlobLocation, blobs: AzureBlobEntry[]): void {
  const seen = new Map<string, string>();
  for (const b of blobs) {
    const other = seen.get(b.relative);
    if (other !== undefined) throw new ModelSyncError('unsafe', `refusing Azure blobs ${azureBlobUri(loc, other)} and ${azureBlobUri(loc, b.key)}: both map to model/${b.relative}`);
    seen.set(b.relative, b.key);
  }
}

/** Reads of one blob version: If-Match its listed ETag, every answer checked against the bytes asked. */
function blobReader(container: ContainerClient, loc: AzureBlobLocation, b: AzureBlobEntry, fail: (err: unknown, action: string, name: string) => Error, signal?: AbortSignal): RangeReader {
  const blob = container.getBlobClient(b.key);
  const where = azureBlobUri(loc, b.key);
  const mapped = (err: unknown): ModelSyncError => {
    const e = fail(err, 'downloading', b.key);
    return e instanceof ModelSyncError ? e : new ModelSyncError('transient', `downloading ${where}: ${e.message}`, { cause: err });
  };
  return {
    where,
    async read(asked, wherePart) {
      let res;
      try {
        res = await blob.download(asked.ranged ? asked.from : 0, asked.ranged ? asked.to - asked.from + 1 : undefined, {
          // The downloader takes a cut body up from its last written byte itself.
          maxRetryRequests: 0,
          ...(b.etag ? { conditions: { ifMatch: b.etag } } : {}),
          ...(signal ? { abortSignal: signal } : {}),
        });
      } catch (err) {
        throw mapped(err);
      }
      const body = res.readableStreamBody as Readable | undefined;
      try {
        checkAnswer({ $metadata: { httpStatusCode: res._response.status }, ContentRange: res.contentRange, ContentLength: res.contentLength }, asked, b.size, wherePart);
      } catch (err) {
        body?.destroy();
        throw err;
      }
      return body!;
    },
    bodyError: mapped,
    isTransient: (err) => (err instanceof ModelSyncError ? err.kind === 'transient' : mapped(err).kind === 'transient'),
  };
}

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** One line for an Azure SDK or identity failure, naming the setting at fault; never the SAS. */
export function azureError(err: unknown, action: string, where: string, chosen: Pick<ChosenCredential, 'setting'>, uriSetting: string): Error {
  if (err instanceof ModelSyncError) return err;
  const e = err as { name?: string; statusCode?: number; code?: string; message?: string };
  if (e?.name === 'AbortError') return err as Error;
  const detail = (e?.message ?? '').split('\n')[0]!.trim();
  const status = e?.statusCode;
  const code = e?.code ?? e?.name ?? 'error';
  if (e?.name === 'AuthenticationError' || e?.name === 'CredentialUnavailableError' || e?.name === 'AggregateAuthenticationError') {
    return new ModelSyncError('auth', `${SP_SETTING}: the service principal got no token for ${where}: ${detail}`, { cause: err });
  }
  if (status === 401 || status === 403) {
    return new ModelSyncError('auth', `${uriSetting}: ${action} ${where} refused (${code}, HTTP ${status}): check ${chosen.setting}`, { cause: err });
  }
  if (status === 404) {
    const what = code === 'ContainerNotFound' ? 'no such container' : code === 'BlobNotFound' ? 'no such blob' : `not found (${code})`;
    return new ModelSyncError('notFound', `${uriSetting}: ${action} ${where}: ${what}`, { cause: err });
  }
  if (status === 412) return new ModelSyncError('integrity', `${where} changed while it was read (its ETag changed); run fetch again`, { cause: err });
  if (status === undefined || TRANSIENT_STATUS.has(status)) {
    return new ModelSyncError('transient', `${action} ${where}: ${code}${status ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: err });
  }
  return new ModelSyncError('internal', `${uriSetting}: ${action} ${where}: ${code} (HTTP ${status}): ${detail}`, { cause: err });
}
