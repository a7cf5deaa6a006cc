// Preflight probes of web sources, through the same request, retry and proxy code as fetch
// (net/request.ts, net/retry.ts, the web pool of http-errors.ts): an http(s) file answers a HEAD
// (or, when HEAD is refused, a GET of its first byte), and a Hugging Face model answers the model
// info API and lets this job's token read a file. No model body is read.
import path from 'node:path';
import { ModelSyncError } from '../errors.js';
import type { AgentPool } from '../net/policy.js';
import { contentLength, drain, header, MAX_REDIRECTS, readBody, send, type HttpResponse } from '../net/request.js';
import { withRetry } from '../net/retry.js';
import type { TlsTrust } from '../net/tls-trust.js';
import { readRecord } from '../workspace/records.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import { archiveKind, type ArchiveKind } from './archive-kind.js';
import { parseHfUri, type HfModelInfo, type HfSibling } from './hf.js';
import { webFile } from './http.js';
import { isTransientHttpError, networkError, statusError, withWebPool } from './http-errors.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { isRecordedComplete, type SourceIdentity } from './session.js';

/** Statuses of servers that do not answer HEAD (or sign URLs for GET only): ask for one byte instead. */
const HEAD_REFUSED = new Set([400, 403, 405, 501]);

export async function probeHttpSource(ctx: SourceProbeContext, uri: string, setting: string, trust?: TlsTrust): Promise<SourceProbe> {
  const { url, headers, shown, name } = webFile(uri, setting);
  return withWebPool(ctx.network, trust, async (pool) => {
    const { size, kind, etag } = await headWebFile(ctx, pool, { url, headers, shown, name });
    // A file complete from an earlier fetch with the same ETag and length is not downloaded again.
    if (kind === 'file' && size !== undefined && (await completeBefore(ctx, shown, name, { size, contentLength: size, ...(etag ? { etag } : {}) }))) {
      return { label: shown, files: 1, needed: { bytes: 0 } };
    }
    // An archive unpacks to at least its own size; without a size nothing is known before fetch.
    return { label: shown, files: 1, needed: { bytes: size ?? 0, ...(kind !== 'file' || size === undefined ? { atLeast: true } : {}) } };
  });
}

/** What a HEAD (or, when HEAD is refused, a GET of the first byte) tells of an http(s) file: its size, kind (archive-kind.ts) and ETag. */
export async function headWebFile(
  ctx: { log: Logger; network: NetworkSettings },
  pool: AgentPool,
  file: { url: URL; headers: Record<string, string>; shown: string; name: string },
): Promise<{ size: number | undefined; kind: ArchiveKind; etag: string | undefined }> {
  const { url, headers, shown, name } = file;
  let res = await retrying(ctx, `HEAD ${shown}`, () => answer(pool, { method: 'HEAD', url, headers }, `HEAD ${shown}`, HEAD_REFUSED));
  let size = contentLength(res.headers);
  if (HEAD_REFUSED.has(res.status)) {
    ctx.log.debug({ url: shown, status: res.status }, 'preflight: HEAD refused, asking for the first byte');
    res = await retrying(ctx, `GET ${shown}`, () => answer(pool, { method: 'GET', url, headers: { ...headers, range: 'bytes=0-0' } }, `GET ${shown}`));
    // 206 tells the whole size in Content-Range; a server that ignores Range answers 200 with it all.
    size = res.status === 206 ? totalOfRange(header(res, 'content-range')) : contentLength(res.headers);
    res.body.destroy();
  }
  const queryNames = [...url.searchParams.values()].map((v) => path.posix.basename(v));
  return { size, kind: archiveKind(name, queryNames, header(res, 'content-type'), ctx.log), etag: header(res, 'etag') };
}

/** One request whose status must be 200/206 (or one of `accept`); the body is left to the caller. */
async function answer(pool: AgentPool, req: Parameters<typeof send>[0], what: string, accept: Set<number> = new Set()): Promise<HttpResponse> {
  const res = await send({ ...req, maxRedirects: MAX_REDIRECTS }, pool);
  if (res.status === 200 || res.status === 206 || accept.has(res.status)) {
    if (req.method === 'HEAD') await drain(res);
    return res;
  }
  res.body.resume();
  throw statusError(res.status, what, res.headers);
}

function totalOfRange(value: string | undefined): number | undefined {
  const m = value ? /\/(\d+)\s*$/.exec(value) : null;
  return m ? Number(m[1]) : undefined;
}


/**
 * hf://org/model[:revision]: the model info (GET /api/models/<repo>/revision/<rev>?blobs=true, as
 * fetch lists it) gives the files and their sizes; a HEAD of one file's download URL then proves
 * this job's token may read it (a gated model lists its files to anyone). Private or gated without
 * access is `auth`, a missing model or revision `notFound`.
 */
export async function probeHfSource(ctx: SourceProbeContext, uri: string, setting: string, hub: { endpoint: string; token?: string }, trust?: TlsTrust): Promise<SourceProbe> {
  const ref = parseHfUri(uri, setting);
  const { endpoint, token } = hub;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const label = `hf://${ref.repo}:${ref.revision}`;
  const repoPath = ref.repo.split('/').map(encodeURIComponent).join('/');
  const refused = (status: number) =>
    new ModelSyncError('auth', `Hugging Face model ${ref.repo} revision ${ref.revision} at ${endpoint}: access refused (HTTP ${status}); ${token ? 'the token in HF_TOKEN has no access to this model (private, or gated and not accepted)' : 'set HF_TOKEN for private or gated models'}`);
  return withWebPool(ctx.network, trust, async (pool) => {
    const info = await retrying(ctx, `list ${label}`, async () => {
      const url = new URL(`${endpoint}/api/models/${repoPath}/revision/${encodeURIComponent(ref.revision)}?blobs=true`);
      const res = await send({ method: 'GET', url, headers, maxRedirects: MAX_REDIRECTS }, pool);
      const text = (await readBody(res, 64 * 1024 * 1024)).toString('utf8');
      if (res.status === 404) throw new ModelSyncError('notFound', `Hugging Face model ${ref.repo} revision ${ref.revision} at ${endpoint}: not found`);
      if (res.status === 401 || res.status === 403) throw refused(res.status);
      if (res.status !== 200) throw statusError(res.status, `Hugging Face model ${ref.repo} at ${endpoint}`, res.headers);
      try {
        return JSON.parse(text) as HfModelInfo;
      } catch {
        throw new ModelSyncError('internal', `Hugging Face model ${ref.repo} at ${endpoint}: the API answered something other than JSON`);
      }
    });
    const listed = info.siblings ?? [];
    if (listed.length === 0) throw new ModelSyncError('notFound', `Hugging Face model ${ref.repo} revision ${ref.revision} has no files`);
    // Only files the patterns keep are probed and counted (fetch says so when none is left).
    const siblings = ctx.keeps ? listed.filter((s) => ctx.keeps!(s.rfilename)) : listed;
    if (siblings.length === 0) return { label, files: 0, needed: { bytes: 0 } };
    if (info.gated && !token) throw refused(401);
    const first = siblings[0]!;
    const file = new URL(`${endpoint}/${repoPath}/resolve/${encodeURIComponent(info.sha ?? ref.revision)}/${first.rfilename.split('/').map(encodeURIComponent).join('/')}`);
    await retrying(ctx, `HEAD ${label}/${first.rfilename}`, async () => {
      const res = await send({ method: 'HEAD', url: file, headers, maxRedirects: MAX_REDIRECTS }, pool);
      await drain(res);
      if (res.status === 401 || res.status === 403) throw refused(res.status);
      if (res.status !== 200) throw statusError(res.status, `Hugging Face file ${ref.repo}/${first.rfilename}`, res.headers);
    });
    let bytes = 0;
    for (const s of siblings) {
      const size = s.lfs?.size ?? s.size;
      const version = s.lfs?.sha256 ?? s.lfs?.oid ?? s.blobId;
      // As fetch: a file complete from an earlier run with the same size and version is skipped.
      if (size !== undefined && version && (await completeBefore(ctx, label, s.rfilename, { size, etag: version }))) continue;
      bytes += size ?? 0;
    }
    return { label, files: siblings.length, needed: { bytes } };
  });
}

/** Whether fetch's record of `label` holds `relative` complete with this identity (what a re-run skips). */
async function completeBefore(ctx: SourceProbeContext, label: string, relative: string, identity: SourceIdentity): Promise<boolean> {
  const record = await readRecord(ctx.workspace, 'fetch');
  return record?.source === label && (await isRecordedComplete(ctx.workspace, record, relative, identity));
}

function retrying<T>(ctx: { log: Logger; network: NetworkSettings }, what: string, fn: () => Promise<T>): Promise<T> {
  return withRetry(fn, { attempts: ctx.network.retryAttempts, isTransient: isTransientHttpError, log: ctx.log, what }).catch((err: unknown) => {
    throw networkError(err, what);
  });
}
