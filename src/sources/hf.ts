// Fetch source `uri` with hf://<org>/<model>[:<revision>]: every file of a Hugging Face model
// repository at one commit. Files are listed with the Hub API
// (GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true) and downloaded from
// {endpoint}/{repo}/resolve/{commit}/{path}; the endpoint ($HF_ENDPOINT, default
// https://huggingface.co) and the token ($HF_TOKEN) come from config/ (sent as Bearer to the Hub only, never to the
// CDN a download redirects to). LFS files are checked against their listed sha256.
import { ConfigError, ModelSyncError } from '../errors.js';
import type { AgentPool } from '../net/policy.js';
import type { TlsTrust } from '../net/tls-trust.js';
import { withRetry } from '../net/retry.js';
import type { Inventory } from '../workspace/records.js';
import { forEachLimit } from '../util/concurrency.js';
import { contentLength, MAX_REDIRECTS, send } from '../net/request.js';
import { isTransientHttpError, networkError, statusError, withWebPool } from './http-errors.js';
import { withSession, type FetchContext, type SourceIdentity } from './session.js';

export interface HfReference {
  repo: string;
  revision: string;
}

/** A file of a model as the Hub's model info API lists it (`?blobs=true` adds sizes and hashes). */
export interface HfSibling {
  rfilename: string;
  size?: number;
  blobId?: string;
  lfs?: { sha256?: string; oid?: string; size?: number };
}

export interface HfModelInfo {
  sha?: string;
  gated?: unknown;
  siblings?: HfSibling[];
}

/** hf://org/model[:revision]; the repository must be exactly <org>/<model>, as upstream requires. */
export function parseHfUri(uri: string, describe: string): HfReference {
  const rest = uri.slice('hf://'.length);
  const colon = rest.indexOf(':');
  const repo = colon >= 0 ? rest.slice(0, colon) : rest;
  const revision = colon >= 0 ? rest.slice(colon + 1) : 'main';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(repo) || revision === '') {
    throw new ConfigError(`${describe}: "${uri}" is not hf://<org>/<model>[:<revision>]`);
  }
  return { repo, revision };
}

export async function fetchFromHuggingFace(ctx: FetchContext, uri: string, setting: string, hub: { endpoint: string; token?: string }, trust?: TlsTrust): Promise<Inventory> {
  const ref = parseHfUri(uri, setting);
  return withWebPool(ctx.network, trust, (pool) => fetchRepository(ctx, pool, ref, hub));
}

/** A model as the Hub lists it: every file at one commit, and how to ask for them. */
export interface HfListing {
  /** hf://<repo>:<revision>, as fetch logs and records it. */
  source: string;
  commit: string;
  siblings: HfSibling[];
  /** The token as a Bearer header (sent to the Hub only; net/ drops it on a redirect elsewhere). */
  headers: Record<string, string>;
  /** {endpoint}/{repo}/resolve/{commit}/{path} of one listed file. */
  fileUrl(rfilename: string): URL;
}

/** Lists the model (GET .../revision/<rev>?blobs=true), refusing a missing, private or empty one. */
export async function listHfModel(ctx: FetchContext, pool: AgentPool, ref: HfReference, hub: { endpoint: string; token?: string }): Promise<HfListing> {
  const { endpoint, token } = hub;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const source = `hf://${ref.repo}:${ref.revision}`;
  const repoPath = ref.repo.split('/').map(encodeURIComponent).join('/');
  const info = await retrying(ctx, `list ${source}`, async () => {
    const url = new URL(`${endpoint}/api/models/${repoPath}/revision/${encodeURIComponent(ref.revision)}?blobs=true`);
    const res = await send({ method: 'GET', url, headers, maxRedirects: MAX_REDIRECTS, signal: ctx.signal }, pool);
    const text = await readText(res.body);
    if (res.status !== 200) {
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        // The Hub answers 401 for private or missing repositories alike.
        const kind = res.status === 404 ? 'notFound' : token ? 'auth' : 'notFound';
        throw new ModelSyncError(kind, `Hugging Face model ${ref.repo} revision ${ref.revision} at ${endpoint}: ${res.status === 404 ? 'not found' : `access refused (HTTP ${res.status})${token ? '' : '; set HF_TOKEN for private or gated models'}`}`);
      }
      throw statusError(res.status, `Hugging Face model ${ref.repo} at ${endpoint}`, res.headers);
    }
    try {
      return JSON.parse(text) as HfModelInfo;
    } catch {
      throw new ModelSyncError('internal', `Hugging Face model ${ref.repo} at ${endpoint}: the API answered something other than JSON`);
    }
  });
  const commit = info.sha ?? ref.revision;
  const siblings = info.siblings ?? [];
  if (siblings.length === 0) throw new ModelSyncError('notFound', `Hugging Face model ${ref.repo} revision ${ref.revision} has no files`);
  const fileUrl = (rfilename: string) => new URL(`${endpoint}/${repoPath}/resolve/${encodeURIComponent(commit)}/${rfilename.split('/').map(encodeURIComponent).join('/')}`);
  return { source, commit, siblings, headers, fileUrl };
}

async function fetchRepository(ctx: FetchContext, pool: AgentPool, ref: HfReference, hub: { endpoint: string; token?: string }): Promise<Inventory> {
  const { source, commit, siblings: listed, headers, fileUrl } = await listHfModel(ctx, pool, ref, hub);

  return withSession(ctx, source, async (session) => {
    // Filtered files are never requested; every name kept is checked before anything is downloaded.
    const siblings = session.paths.keep(listed, (s) => s.rfilename, source, ctx.log);
    for (const s of siblings) await session.target(s.rfilename, `Hugging Face file ${ref.repo}/${s.rfilename}`);
    const total = siblings.reduce((n, s) => n + (s.lfs?.size ?? s.size ?? 0), 0);
    ctx.log.info({ source, commit, files: siblings.length, bytes: total }, `found ${siblings.length} file(s)`);
    // The file list knows the sizes: refuse a model that cannot fit before any download.
    let needed = 0;
    for (const s of siblings) {
      const identity = hfIdentity(s);
      if (!identity || !(await session.isComplete(s.rfilename, identity))) needed += s.lfs?.size ?? s.size ?? 0;
    }
    await session.ensureRoom(needed);
    const progress = session.progress(`fetch ${source}`, total);
    try {
      await forEachLimit(siblings, session.concurrency, async (s) => {
        const what = `Hugging Face file ${ref.repo}/${s.rfilename}@${commit}`;
        const size = s.lfs?.size ?? s.size;
        const version = s.lfs?.sha256 ?? s.lfs?.oid ?? s.blobId;
        const identity = hfIdentity(s);
        if (identity && (await session.completed(s.rfilename, identity))) {
          progress.add(size ?? 0);
          return;
        }
        const url = fileUrl(s.rfilename);
        await retrying(ctx, what, async () => {
          const res = await send({ method: 'GET', url, headers, maxRedirects: MAX_REDIRECTS, signal: ctx.signal }, pool);
          if (res.status !== 200) {
            res.body.resume();
            throw statusError(res.status, what, res.headers);
          }
          const length = contentLength(res.headers) ?? size;
          return session.writeStream(s.rfilename, res.body, {
            what,
            progress,
            ...(length !== undefined ? { expectedSize: length } : {}),
            ...(s.lfs?.sha256 ? { expectedSha256: s.lfs.sha256 } : {}),
            identity: version ? { etag: version } : {},
          });
        });
      });
    } finally {
      progress.finish();
    }
  });
}

/** What identifies a listed file's version: its size and LFS sha256 / blob id, when the list has both. */
export function hfIdentity(s: HfSibling): SourceIdentity | undefined {
  const size = s.lfs?.size ?? s.size;
  const version = s.lfs?.sha256 ?? s.lfs?.oid ?? s.blobId;
  return size !== undefined && version ? { size, etag: version } : undefined;
}

function retrying<T>(ctx: FetchContext, what: string, fn: () => Promise<T>): Promise<T> {
  return withRetry(fn, { attempts: ctx.network.retryAttempts, isTransient: isTransientHttpError, log: ctx.log, what }).catch((err: unknown) => {
    throw networkError(err, what);
  });
}

async function readText(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += chunk.length;
    if (length > 64 * 1024 * 1024) throw new ModelSyncError('internal', 'Hugging Face API answer too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
