// The source side of the streaming `all`: the files of a source, listed as fetch lists them (same
// listing, path checks, refusals and errors), each readable as a stream from any byte offset, so
// that a destination takes them without a copy on the volume. S3 objects, Hugging Face files, one
// http(s) file and local / PVC files stream; an OCI source (its files sit inside tar layers) and
// an archive (it is unpacked) are staged: the caller fetches them to the volume as before.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ModelSyncError } from '../errors.js';
import type { AgentPool } from '../net/policy.js';
import { header, MAX_REDIRECTS, send } from '../net/request.js';
import { RETRY_DEFAULTS, retryDelay } from '../net/retry.js';
import type { ImageEndpoint } from '../oci/credentials.js';
import { comparePaths } from '../oci/layer-plan.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import type { RangedTuning } from '../s3/download.js';
import { s3Uri } from '../s3/errors.js';
import { listS3Source } from '../s3/list.js';
import { readS3Object } from '../s3/stream-read.js';
import { exactLength } from '../util/exact-length.js';
import type { StreamFile } from '../util/stream-file.js';
import { normaliseRelative, safeJoin, UnsafePathError } from '../workspace/safe-path.js';
import { hfIdentity, listHfModel, parseHfUri } from './hf.js';
import { webFile } from './http.js';
import { isTransientHttpError, networkError, statusError, webPool } from './http-errors.js';
import { planLocalSource } from './local.js';
import { PathFilter } from './path-filter.js';
import { headWebFile } from './probe-web.js';
import { identityOf } from './s3.js';
import { SizeMismatchError, type FetchContext, type SourceIdentity } from './session.js';
import { uriKind, type UriSource } from './uri.js';

export interface SourceFile extends StreamFile {
  /** The version of the file, as fetch records it (fetch.json). */
  readonly identity: SourceIdentity;
}

export interface StreamSource {
  /** The source as fetch logs and records it (s3://b/k, hf://org/m:rev, the URL, file:// or pvc:// path). */
  readonly label: string;
  /** In path order (comparePaths), each path once. */
  readonly files: readonly SourceFile[];
  /** Releases the connections; no file may be opened after. */
  close(): void;
}

export type StreamSourceChoice = { kind: 'stream'; source: StreamSource } | { kind: 'stage'; reason: string };

/** Structurally config's SourceSettings (sources/ does not import config/). */
export type StreamableSource = { type: 's3'; s3: S3Settings } | { type: 'oci'; image: ImageEndpoint } | { type: 'uri'; uri: UriSource };

/**
 * Lists `source` for streaming, or says why it must be staged on the volume. A missing or empty
 * source, refused credentials and hostile paths fail as fetch fails, before any body is read.
 */
export async function openStreamSource(ctx: FetchContext, source: StreamableSource, tuning: RangedTuning): Promise<StreamSourceChoice> {
  if (source.type === 's3') return s3Source(ctx, source.s3, tuning);
  if (source.type === 'oci') return { kind: 'stage', reason: "an OCI source's files sit inside its tar layers" };
  switch (uriKind(source.uri)) {
    case 'azure':
      return { kind: 'stage', reason: 'an Azure Blob source is not streamed yet' };
    case 'hf':
      return hfSource(ctx, source.uri);
    case 'web':
      return webSource(ctx, source.uri);
    case 'local':
      return streamed(await localSource(ctx, source.uri));
  }
}

function streamed(source: StreamSource): StreamSourceChoice {
  return { kind: 'stream', source };
}

/** `list` with connections the source keeps open: closed when it fails or the source is staged. */
async function keptOpen(close: () => void, list: () => Promise<StreamSourceChoice>): Promise<StreamSourceChoice> {
  try {
    const choice = await list();
    if (choice.kind === 'stage') close();
    return choice;
  } catch (err) {
    close();
    throw err;
  }
}

/** How one file is described by its source: what errors name it by, and how to read it from a byte. */
interface Listed {
  path: string;
  size: number;
  identity: SourceIdentity;
  what: string;
  read(start: number, signal: AbortSignal | undefined): Readable | Promise<Readable>;
}

/**
 * The files checked as fetch checks the names it writes (no `..`, not absolute, within the file
 * system's limits), normalised, each exactly once, in path order; every read yields exactly its
 * bytes or fails naming the file.
 */
function sourceOf(ctx: FetchContext, label: string, listed: Listed[], close: () => void): StreamSource {
  const seen = new Map<string, string>();
  // The include / exclude patterns, as fetch applies them: a file left out is never opened.
  const kept = new PathFilter(ctx.patterns).keep(listed, (f) => f.path, label, ctx.log);
  const files = kept.map((f): SourceFile => {
    safeJoin(ctx.workspace.modelDir, f.path, f.what);
    const path = normaliseRelative(f.path);
    const other = seen.get(path);
    if (other !== undefined) throw new UnsafePathError(`${other} and ${f.what}`, `both map to model/${path}`);
    seen.set(path, f.what);
    return {
      path,
      size: f.size,
      identity: f.identity,
      open: async (start, signal) => {
        if (!Number.isSafeInteger(start) || start < 0 || start > f.size) throw new ModelSyncError('internal', `${f.what}: cannot read from byte ${start} of ${f.size}`);
        const stop = signal && ctx.signal ? AbortSignal.any([signal, ctx.signal]) : (signal ?? ctx.signal);
        if (start === f.size) return Readable.from([]);
        return exactly(await f.read(start, stop), f.size - start, f.what);
      },
    };
  });
  files.sort((a, b) => comparePaths(a.path, b.path));
  return { label, files, close };
}

/** `input` passed on, failing as `integrity` when it carries more or fewer than `expected` bytes. */
function exactly(input: Readable, expected: number, what: string): Readable {
  return exactLength(input, expected, {
    more: () => new ModelSyncError('integrity', `${what}: more than the ${expected} bytes expected`),
    fewer: (got) => new SizeMismatchError(what, got, expected),
  });
}

// --- S3 -----------------------------------------------------------------------------------------

async function s3Source(ctx: FetchContext, settings: S3Settings, tuning: RangedTuning): Promise<StreamSourceChoice> {
  const label = s3Uri(settings.bucket, settings.key);
  const client = createS3Client(settings, ctx.concurrency, ctx.network);
  const close = () => client.destroy();
  return keptOpen(close, async () => {
    ctx.log.info({ source: label, endpoint: settings.endpoint, region: settings.region }, 'listing S3 source');
    const listing = await listS3Source(client, settings.bucket, settings.key, ctx.workspace.modelDir);
    const listed = listing.objects.map(
      (o): Listed => ({
        path: o.relative,
        size: o.size,
        identity: identityOf(o),
        what: `S3 object ${s3Uri(settings.bucket, o.key)}`,
        read: (start, signal) =>
          readS3Object(
            { client, bucket: settings.bucket, key: o.key, size: o.size, ...(o.etag ? { etag: o.etag } : {}), threshold: tuning.threshold, partSize: tuning.partSize, attempts: ctx.network.retryAttempts, log: ctx.log },
            start,
            signal,
          ),
      }),
    );
    return streamed(sourceOf(ctx, label, listed, close));
  });
}

// --- Hugging Face and http(s) -------------------------------------------------------------------

async function hfSource(ctx: FetchContext, uri: UriSource): Promise<StreamSourceChoice> {
  const ref = parseHfUri(uri.uri, uri.setting);
  const pool = webPool(ctx.network, uri.trust);
  return keptOpen(() => pool.close(), async () => {
    const listing = await listHfModel(ctx, pool, ref, uri.hf);
    const unsized = listing.siblings.find((s) => (s.lfs?.size ?? s.size) === undefined);
    if (unsized) return { kind: 'stage', reason: `the Hub lists no size for ${unsized.rfilename}` };
    const listed = listing.siblings.map((s): Listed => {
      const what = `Hugging Face file ${ref.repo}/${s.rfilename}@${listing.commit}`;
      const size = (s.lfs?.size ?? s.size)!;
      const sha256 = s.lfs?.sha256;
      return {
        path: s.rfilename,
        size,
        identity: hfIdentity(s) ?? { size },
        what,
        read: (start, signal) => Readable.from(webBytes(ctx, pool, { url: listing.fileUrl(s.rfilename), headers: listing.headers, what, size, signal, ...(sha256 ? { sha256 } : {}) }, start)),
      };
    });
    return streamed(sourceOf(ctx, listing.source, listed, () => pool.close()));
  });
}

async function webSource(ctx: FetchContext, uri: UriSource): Promise<StreamSourceChoice> {
  const file = webFile(uri.uri, uri.setting);
  const pool = webPool(ctx.network, uri.trust);
  return keptOpen(() => pool.close(), async () => {
    const { size, kind, etag } = await headWebFile(ctx, pool, file);
    if (kind !== 'file') return { kind: 'stage', reason: `a ${kind} archive is unpacked on the volume` };
    if (size === undefined) return { kind: 'stage', reason: 'the server does not tell the size of the file' };
    const what = `GET ${file.shown}`;
    const listed: Listed = {
      path: file.name,
      size,
      identity: { size, contentLength: size, ...(etag ? { etag } : {}) },
      what,
      read: (start, signal) => Readable.from(webBytes(ctx, pool, { url: file.url, headers: file.headers, what, size, signal, ...(etag ? { etag } : {}) }, start)),
    };
    return streamed(sourceOf(ctx, file.shown, [listed], () => pool.close()));
  });
}

interface WebRead {
  url: URL;
  headers: Record<string, string>;
  what: string;
  size: number;
  signal: AbortSignal | undefined;
  /** The listed ETag: an answer with another one is a changed file. */
  etag?: string;
  /** The listed sha256 (Hugging Face LFS), checked when the whole file is read. */
  sha256?: string;
}

/**
 * Bytes `start`..size-1 of a web file, asked with Range from the byte reached (at the start, and
 * again after a body cut mid-way, up to the retry policy's attempts); redirects are net's. A
 * server that ignores Range answers 200 with the whole file: the bytes already had are skipped.
 */
async function* webBytes(ctx: FetchContext, pool: AgentPool, req: WebRead, start: number): AsyncGenerator<Buffer> {
  const hash = start === 0 && req.sha256 ? createHash('sha256') : undefined;
  let reached = start;
  for (let failed = 0; ; ) {
    try {
      const headers = reached > 0 ? { ...req.headers, range: `bytes=${reached}-` } : req.headers;
      const res = await send({ method: 'GET', url: req.url, headers, maxRedirects: MAX_REDIRECTS, signal: req.signal }, pool);
      try {
        if (res.status !== 200 && res.status !== 206) throw statusError(res.status, req.what, res.headers);
        const etag = header(res, 'etag');
        if (req.etag && etag && etag !== req.etag) throw new ModelSyncError('integrity', `${req.what} changed while it was read (ETag ${req.etag} became ${etag}); run again`);
        if (res.status === 206 && header(res, 'content-range') !== `bytes ${reached}-${req.size - 1}/${req.size}`) {
          throw new ModelSyncError('integrity', `${req.what}: asked for bytes ${reached}- of ${req.size} and got Content-Range "${header(res, 'content-range') ?? ''}"`);
        }
        let skip = res.status === 200 ? reached : 0;
        let position = res.status === 200 ? 0 : reached;
        for await (const received of res.body as AsyncIterable<Buffer>) {
          let chunk = received;
          if (skip > 0) {
            const dropped = Math.min(skip, chunk.length);
            skip -= dropped;
            position += dropped;
            chunk = chunk.subarray(dropped);
            if (chunk.length === 0) continue;
          }
          if (position + chunk.length > req.size) throw new ModelSyncError('integrity', `${req.what}: the answer carries more than the ${req.size} bytes listed`);
          position += chunk.length;
          reached = position;
          hash?.update(chunk);
          yield chunk;
        }
        if (reached < req.size) throw new SizeMismatchError(req.what, reached, req.size);
      } finally {
        res.body.destroy();
      }
      if (hash) {
        const sha256 = hash.digest('hex');
        if (sha256 !== req.sha256) throw new ModelSyncError('integrity', `${req.what}: sha256 ${sha256} differs from the listed ${req.sha256}`);
      }
      return;
    } catch (err) {
      if (req.signal?.aborted || !isTransientHttpError(err)) throw networkError(err, req.what);
      const delay = retryDelay({ ...RETRY_DEFAULTS, attempts: ctx.network.retryAttempts }, ++failed);
      if (delay === undefined) throw networkError(err, req.what);
      ctx.log.warn({ attempt: failed, delayMs: Math.round(delay), from: reached, err: (err as Error).message }, `${req.what}: transient failure, resuming with a Range`);
      await sleep(delay, undefined, req.signal ? { signal: req.signal } : {});
    }
  }
}

// --- local and PVC ------------------------------------------------------------------------------

async function localSource(ctx: FetchContext, uri: UriSource): Promise<StreamSource> {
  const { src, files } = await planLocalSource(uri.uri, uri.pvcMountRoot, uri.setting, ctx.log);
  const listed = files.map(
    (f): Listed => ({
      path: f.relative,
      size: f.size,
      identity: { size: f.size, mtimeMs: f.mtimeMs },
      what: `${src.display}: ${f.relative}`,
      read: async (start, signal) => {
        const now = await stat(f.absolute);
        if (now.size !== f.size || now.mtimeMs !== f.mtimeMs) {
          throw new ModelSyncError('integrity', `${src.display}: ${f.relative} changed since it was listed (${f.size} bytes, now ${now.size}); run again`);
        }
        return createReadStream(f.absolute, { start, ...(signal ? { signal } : {}) });
      },
    }),
  );
  return sourceOf(ctx, src.display, listed, () => undefined);
}
