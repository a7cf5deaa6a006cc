// Our OCI distribution client: manifests and indexes (resolve, GET, HEAD, PUT with digest check),
// blobs (HEAD, streamed GET through redirects, monolithic and chunked uploads, cross-repository
// mount). Every call retries transient faults and answers with one-line errors that name the
// registry and the reference.
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { RegistryCredentials } from './credentials.js';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { Sha256Meter } from '../util/sha256-meter.js';
import { AgentPool, type NetworkSettings } from '../net/policy.js';
import type { TlsTrust } from '../net/tls-trust.js';
import { contentLength, drain, header, readBody, send, type HttpRequest, type HttpResponse, type RequestBody } from '../net/request.js';
import { isTransient, isTransientNetworkError, noteRetryAfter, retryDelay, withRetry } from '../net/retry.js';
import { RegistryAuth } from './auth.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { formatReference, registryScheme, type ImageReference } from './reference.js';
import type { Shutdown } from '../util/shutdown.js';
import { answersPlainHttp, BrokenDownloadError, brokenDownloadError, networkError, plainHttpError, RegistryError, registryError, tooLargeError, type ErrorContext } from './registry-errors.js';

export interface RegistryClientOptions {
  credentials?: RegistryCredentials;
  tlsVerify: boolean;
  /** The flag and env var of tlsVerify, named when a registry answers plain HTTP with verification on. */
  tlsSetting?: string;
  /** CAs beyond the system roots for the registry, its token realm and storage hosts (certs.d per host). */
  trust?: TlsTrust;
  log: Logger;
  /** Ask for push access (tokens with `pull,push`). */
  push?: boolean;
  /** Verb for error messages: pull, push, fetch. */
  operation?: string;
  /** Reference named in error messages (default: the reference the client was made for). */
  subject?: string;
  maxSockets?: number;
  /** The step's timeouts and retry attempts (default: 120 s, 5 attempts). */
  network?: NetworkSettings;
  /** Overrides of the retry policy (tests shorten it). */
  retry?: { attempts?: number; baseDelayMs?: number };
  /** The run's stop: requests end on its signal, and an open upload session is deleted (best effort). */
  stop?: Pick<Shutdown, 'signal' | 'onStop'>;
  /**
   * Treat the registry as one that takes monolithic uploads only (as ghcr, gcr, pkg.dev and ECR
   * are): tests set it to exercise that path against a local registry.
   */
  monolithicOnly?: boolean;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface UploadOptions {
  /** Above this size a blob goes up in PATCH chunks; at or below, one streamed PUT. */
  chunkThreshold?: number;
  chunkSize?: number;
  /** Called with bytes sent (negative when a failed attempt is rolled back). */
  onBytes?: (n: number) => void;
  /** Where a chunked upload records its session, and the session an earlier run left to continue. */
  session?: SessionRecord;
}

/** Where the bytes of a chunked upload come from, attempt after attempt. */
export interface ChunkedSource {
  size: number;
  /** Names the upload in messages: `blob sha256:...`, `the layer of model.bin`. */
  what: string;
  /** The digest when known before the bytes are read (checked against the reader's). */
  digest?: string;
  /** An attempt that sends the bytes from `offset` on (the registry's offset of the session). */
  begin(offset: number): ChunkReader | Promise<ChunkReader>;
}

export interface ChunkReader {
  /** The next `length` bytes, from `start`; called in order, one chunk after the other. */
  chunk(start: number, length: number): Readable;
  /** After the last chunk: the digest of all the bytes (a reader that computes it checks its input here). */
  digest(): Promise<string>;
  /** Ends the attempt, also early after a failure: frees the files it reads. */
  close(): void;
}

/** The record of one upload session across runs (oci/upload-sessions.ts keeps them in the workspace). */
export interface SessionRecord {
  /** The Location of the session an earlier run recorded for this upload, if any. */
  readonly location?: string;
  /** Called after the session opens and after each chunk, before the next one is sent. */
  save(location: string, offset: number): Promise<void>;
  /** Called once the blob is stored, or when the source failed and the session was cancelled. */
  clear(): Promise<void>;
}

export interface ChunkedUploadOptions {
  chunkSize: number;
  onBytes?: (n: number) => void;
  session?: SessionRecord;
}

export interface ChunkedUploadResult {
  digest: string;
  /** Offset the successful attempt continued from (0: it sent everything in its session). */
  resumedAt: number;
  /** Bytes of chunks the registry accepted from this call (in every session it used). */
  bytesSent: number;
}

/** Opens the blob's bytes, or the inclusive range [start, end] of them. */
export type BlobOpener = (start?: number, end?: number) => Readable;

const MAX_REDIRECTS = 5;
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
/** Registries known to refuse spec-chunked uploads (or to cap chunk sizes): always monolithic. */
const MONOLITHIC_ONLY = [/(^|\.)ghcr\.io$/, /\.pkg\.dev$/, /(^|\.)gcr\.io$/, /\.amazonaws\.com(\.cn)?$/];

export const DEFAULT_CHUNK_THRESHOLD = 1024 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 256 * 1024 * 1024;

/**
 * Registry hosts (host[:port]) found to speak plain HTTP while TLS verification was off: decided
 * once per run, so every later client for that host starts on http.
 */
const PLAIN_HTTP_HOSTS = new Set<string>();

export class RegistryClient {
  readonly registry: string;
  readonly base: URL;
  private readonly pool: AgentPool;
  readonly auth: RegistryAuth;
  private readonly ctx: ErrorContext;
  private readonly log: Logger;
  private readonly push: boolean;
  private readonly retry: { attempts: number; baseDelayMs: number };
  private ping: Promise<void> | undefined;
  private readonly tlsVerify: boolean;
  private readonly tlsSetting: string | undefined;
  private readonly stop: RegistryClientOptions['stop'];
  private readonly forceMonolithic: boolean;

  constructor(
    readonly ref: ImageReference,
    opts: RegistryClientOptions,
  ) {
    this.registry = ref.registry;
    // Only a client that allows plain HTTP itself reuses the decision (a verified one must fail).
    const scheme = !opts.tlsVerify && PLAIN_HTTP_HOSTS.has(ref.apiHost) ? 'http' : registryScheme(ref.apiHost);
    this.base = new URL(`${scheme}://${ref.apiHost}`);
    this.tlsVerify = opts.tlsVerify;
    this.tlsSetting = opts.tlsSetting;
    this.pool = new AgentPool({ tlsVerify: opts.tlsVerify, trust: opts.trust, maxSockets: opts.maxSockets ?? 16, ...(opts.network ? { idleTimeoutMs: opts.network.idleTimeoutMs, proxy: opts.network.proxy } : {}) });
    this.ctx = { registry: ref.registry, subject: opts.subject ?? formatReference(ref), operation: opts.operation ?? (opts.push ? 'push' : 'pull') };
    this.auth = new RegistryAuth(this.pool, this.ctx, opts.credentials, opts.log, this.base);
    this.log = opts.log;
    this.push = opts.push ?? false;
    this.retry = { attempts: opts.retry?.attempts ?? opts.network?.retryAttempts ?? 5, baseDelayMs: opts.retry?.baseDelayMs ?? 500 };
    this.stop = opts.stop;
    this.forceMonolithic = opts.monolithicOnly ?? false;
  }

  close(): void {
    // Stopping, the stop's DELETEs of open upload sessions still need the pool; the process exits after them.
    if (this.stop?.signal.aborted) return;
    this.pool.close();
  }

  private scopes(repository: string, extra: string[] = []): string[] {
    return [`repository:${repository}:${this.push ? 'pull,push' : 'pull'}`, ...extra];
  }

  private url(path: string): URL {
    return new URL(path, this.base);
  }

  /**
   * One operation under the retry policy. Request faults are already mapped by raw(); a raw
   * network fault left at the end broke off an answer's body, and is named as such (transient).
   */
  private retried<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, { ...this.retry, isTransient, log: this.log, what: `${this.ctx.operation} ${this.ctx.subject}: ${what}` }).catch((err: unknown) => {
      throw !(err instanceof ModelSyncError) && isTransientNetworkError(err) ? brokenDownloadError(this.ctx, err, what) : err;
    });
  }

  /** Reads a manifest or config into memory, refusing one over `limit` before reading it when its size is declared. */
  private async readLimited(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
    const declared = contentLength(res.headers);
    if (declared !== undefined && declared > limit) {
      res.body.destroy();
      throw tooLargeError(this.ctx, what, limit, declared);
    }
    return readBody(res, limit).catch((err: unknown) => {
      throw (err as { code?: string }).code === 'ETOOBIG' ? tooLargeError(this.ctx, what, limit, undefined) : err;
    });
  }

  /** A blob body whose network faults become BrokenDownloadErrors naming the registry and the blob. */
  private namedFaults(body: Readable, what: string): Readable {
    const out = new PassThrough();
    body.on('error', (err) => out.destroy(isTransientNetworkError(err) ? brokenDownloadError(this.ctx, err, what) : err));
    out.on('close', () => {
      if (!body.readableEnded) body.destroy(); // the reader stopped early: free the socket
    });
    return body.pipe(out);
  }

  /**
   * `GET /v2/` once: reachability, and which auth scheme the registry wants. Not retried here:
   * it runs inside the retried operation that needs it.
   */
  private ensurePing(): Promise<void> {
    this.ping ??= (async () => {
      const res = await this.raw({ method: 'GET', url: this.url('/v2/') }).catch((err: unknown) => this.plainHttpFallback(err));
      await drain(res);
      if (res.status !== 200 && res.status !== 401) {
        throw registryError(this.ctx, res.status, undefined, 'the API check /v2/ (is this an OCI registry?)');
      }
      this.auth.learn(res);
    })().catch((err) => {
      this.ping = undefined;
      throw err;
    });
    return this.ping;
  }

  /**
   * An https ping that met a plain-HTTP server: with verification off (skopeo's --tls-verify=false)
   * the registry is reached over http from now on; with it on, a one-line config error says which
   * setting allows that. Any other fault is passed on.
   */
  private plainHttpFallback(err: unknown): Promise<HttpResponse> {
    const cause = err instanceof ModelSyncError ? err.cause : err;
    if (this.base.protocol !== 'https:' || !answersPlainHttp(cause)) throw err;
    if (this.tlsVerify) throw plainHttpError(this.ctx, this.base.host, this.tlsSetting, cause);
    PLAIN_HTTP_HOSTS.add(this.base.host);
    this.base.protocol = 'http:'; // the same URL object RegistryAuth holds
    this.log.warn({ registry: this.registry }, `registry ${this.registry} answers plain HTTP, not HTTPS; TLS verification is off, so it is reached over http`);
    return this.raw({ method: 'GET', url: this.url('/v2/') });
  }

  private async raw(req: HttpRequest): Promise<HttpResponse> {
    try {
      return await send(this.stop ? { ...req, signal: this.stop.signal } : req, this.pool);
    } catch (err) {
      if (this.stop?.signal.aborted) throw err; // stopping: no retry, no mapping
      // net's own refusals (a redirect loop, a redirect to another scheme) keep their kind.
      if (err instanceof ModelSyncError) throw new ModelSyncError(err.kind, `cannot ${this.ctx.operation} ${this.ctx.subject}: ${err.message}`, { cause: err });
      throw networkError(this.ctx, err, req.url.host === this.base.host ? this.registry : req.url.host);
    }
  }

  /**
   * One request with auth (one retry with a fresh token on 401) and redirects
   * for GET/HEAD (net drops Authorization when a redirect leaves the registry's origin).
   */
  private async send(request: HttpRequest, scopes: string[]): Promise<HttpResponse> {
    await this.ensurePing();
    // A URL made before the ping may still say https for a registry found to speak plain HTTP.
    const onBase = request.url.host === this.base.host && request.url.protocol === 'https:' && this.base.protocol === 'http:';
    const req = onBase ? { ...request, url: new URL(request.url.href.replace(/^https:/, 'http:')) } : request;
    for (let attempt = 0; ; attempt++) {
      const headers = { ...req.headers };
      const authorization = await this.auth.authorization(scopes);
      if (authorization) headers.authorization = authorization;
      const res = await this.raw({ ...req, headers, maxRedirects: MAX_REDIRECTS });
      // A 401 after a redirect comes from storage, not from the registry's auth: no token fixes it.
      if (res.status === 401 && attempt === 0 && res.url.href === req.url.href) {
        await drain(res);
        if (await this.auth.onUnauthorized(res, scopes)) continue;
      }
      return res;
    }
  }

  /** send() that fails unless the status is one of `ok`, after reading the error body. */
  private async expect(req: HttpRequest, scopes: string[], ok: number[], what: string): Promise<HttpResponse> {
    const res = await this.send(req, scopes);
    if (ok.includes(res.status)) return res;
    const body = req.method === 'HEAD' ? undefined : await readBody(res, 64 * 1024).catch(() => undefined);
    if (req.method === 'HEAD') await drain(res);
    throw noteRetryAfter(registryError(this.ctx, res.status, body, what, res.status === 401 || res.status === 403 ? this.auth.hint() : undefined), res.headers);
  }

  // ---- manifests ---------------------------------------------------------------------------

  /** GET a manifest or index by tag or digest; the digest is computed from the bytes and checked. */
  getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${reference}`;
    return this.retried(what, async () => {
      const res = await this.expect({ method: 'GET', url: this.url(`/v2/${repository}/manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT } }, this.scopes(repository), [200], what);
      const bytes = await this.readLimited(res, MAX_MANIFEST_BYTES, what);
      const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      const expected = reference.startsWith('sha256:') ? reference : header(res, 'docker-content-digest');
      if (expected && expected.startsWith('sha256:') && expected !== digest) {
        throw new ModelSyncError('integrity', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.registry} sent manifest ${reference} with digest ${digest}, expected ${expected}`);
      }
      let mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
      try {
        const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
        if (doc.mediaType) mediaType = doc.mediaType;
      } catch {
        throw new ModelSyncError('integrity', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.registry} sent manifest ${reference} that is not JSON`);
      }
      return { bytes, mediaType, digest };
    });
  }

  /** HEAD a manifest: its digest, media type and size, or undefined when absent. */
  headManifest(repository: string, reference: string): Promise<{ digest?: string; mediaType?: string; size?: number } | undefined> {
    const what = `manifest ${reference}`;
    return this.retried(what, async () => {
      const res = await this.expect({ method: 'HEAD', url: this.url(`/v2/${repository}/manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT } }, this.scopes(repository), [200, 404], what);
      await drain(res);
      if (res.status === 404) return undefined;
      return { digest: header(res, 'docker-content-digest'), mediaType: header(res, 'content-type')?.split(';')[0], size: contentLength(res.headers) };
    });
  }

  /** PUT a manifest by tag or digest; verifies the registry's Docker-Content-Digest. Returns the digest. */
  putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    const what = `manifest ${reference}`;
    return this.retried(what, async () => {
      const res = await this.expect(
        { method: 'PUT', url: this.url(`/v2/${repository}/manifests/${reference}`), headers: { 'content-type': mediaType }, body: bytes },
        this.scopes(repository),
        [200, 201, 202, 204],
        what,
      );
      await drain(res);
      const returned = header(res, 'docker-content-digest');
      if (returned && returned !== digest) {
        throw new ModelSyncError('integrity', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.registry} stored manifest ${reference} as ${returned}, but its bytes hash to ${digest}`);
      }
      return digest;
    });
  }

  /**
   * DELETE of a manifest by digest (which untags every tag on it). 'refused' when the registry does
   * not allow deletes (distribution without storage.delete answers 405 UNSUPPORTED; many hosted
   * registries 403/405); 'absent' on 404. Other failures throw as usual.
   */
  deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent' | 'refused'> {
    const what = `deletion of manifest ${digest}`;
    return this.retried(what, async () => {
      const res = await this.send({ method: 'DELETE', url: this.url(`/v2/${repository}/manifests/${digest}`) }, this.scopes(repository));
      await drain(res);
      if (res.status === 202 || res.status === 200 || res.status === 204) return 'deleted';
      if (res.status === 404) return 'absent';
      if (res.status === 405 || res.status === 403 || res.status === 401) return 'refused';
      throw registryError(this.ctx, res.status, undefined, what);
    });
  }

  // ---- blobs -------------------------------------------------------------------------------

  /** Size of a blob in `repository`, or undefined when the registry does not have it there. */
  headBlob(repository: string, digest: string): Promise<number | undefined> {
    const what = `blob ${digest}`;
    return this.retried(what, async () => {
      const res = await this.expect({ method: 'HEAD', url: this.url(`/v2/${repository}/blobs/${digest}`) }, this.scopes(repository), [200, 404], what);
      await drain(res);
      if (res.status === 404) return undefined;
      return contentLength(res.headers) ?? -1;
    });
  }

  /** Opens a blob for reading (through redirects). The caller verifies the digest (see digestVerifier). */
  openBlob(repository: string, digest: string): Promise<{ stream: Readable; size: number | undefined }> {
    const what = `blob ${digest}`;
    return this.retried(what, async () => {
      const res = await this.expect({ method: 'GET', url: this.url(`/v2/${repository}/blobs/${digest}`) }, this.scopes(repository), [200], what);
      return { stream: this.namedFaults(res.body, what), size: contentLength(res.headers) };
    });
  }

  /** Reads a small blob (a config) fully, digest verified. */
  async getBlobBytes(repository: string, digest: string, limit = MAX_MANIFEST_BYTES): Promise<Buffer> {
    return this.retried(`blob ${digest}`, async () => {
      const res = await this.expect({ method: 'GET', url: this.url(`/v2/${repository}/blobs/${digest}`) }, this.scopes(repository), [200], `blob ${digest}`);
      const bytes = await this.readLimited(res, limit, `blob ${digest}`);
      const actual = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      if (actual !== digest) throw new ModelSyncError('integrity', `cannot ${this.ctx.operation} ${this.ctx.subject}: blob ${digest} from registry ${this.registry} hashes to ${actual}`);
      return bytes;
    });
  }

  /**
   * Mounts a blob from another repository of the same registry. True when the registry mounted
   * it (201); false when it started an upload instead (202), which is then cancelled.
   */
  mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    const what = `mount of blob ${digest} from ${fromRepository}`;
    return this.retried(what, async () => {
      const url = this.url(`/v2/${repository}/blobs/uploads/`);
      url.searchParams.set('mount', digest);
      url.searchParams.set('from', fromRepository);
      const res = await this.expect({ method: 'POST', url }, this.scopes(repository, [`repository:${fromRepository}:pull`]), [201, 202], what);
      await drain(res);
      if (res.status === 201) return true;
      const location = header(res, 'location');
      if (location) {
        // Not mounted: the registry opened an upload session we do not need.
        await this.send({ method: 'DELETE', url: new URL(location, res.url) }, this.scopes(repository))
          .then(drain)
          .catch(() => undefined);
      }
      return false;
    });
  }

  /** Uploads a blob of known digest and size: one streamed PUT, or PATCH chunks above the threshold. */
  async uploadBlob(repository: string, digest: string, size: number, open: BlobOpener, opts: UploadOptions = {}): Promise<void> {
    const threshold = opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD;
    if (size > threshold && !this.monolithicOnly) await this.uploadChunked(repository, digest, size, open, opts);
    else await this.uploadMonolithic(repository, digest, size, open, opts.onBytes);
  }

  /**
   * Preflight's push check: opens a blob upload session (POST /v2/<repo>/blobs/uploads/, with a
   * token of push scope when the registry uses tokens) and cancels it at once (DELETE of its
   * Location), so that no blob is written. A registry that refuses the DELETE lets the session
   * expire on its own: `cancelled` says which.
   */
  openAndCancelUpload(repository: string): Promise<{ cancelled: boolean }> {
    const what = 'a blob upload session (push access)';
    return this.retried(what, async () => {
      const { location } = await this.startUpload(repository, what);
      return { cancelled: await this.cancelUpload(repository, location) };
    });
  }

  /** DELETE of an upload session; false when the registry refuses or the request fails (never an error). */
  async cancelUpload(repository: string, location: URL): Promise<boolean> {
    try {
      const res = await this.send({ method: 'DELETE', url: location }, this.scopes(repository));
      await drain(res);
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }

  private async startUpload(repository: string, what: string): Promise<{ location: URL; minChunk: number }> {
    const res = await this.expect({ method: 'POST', url: this.url(`/v2/${repository}/blobs/uploads/`) }, this.scopes(repository), [202], what);
    await drain(res);
    const location = header(res, 'location');
    if (!location) throw registryError(this.ctx, res.status, undefined, `${what} (no Location in the upload answer)`);
    return { location: new URL(location, res.url), minChunk: Number(header(res, 'oci-chunk-min-length') ?? 0) || 0 };
  }

  /**
   * Runs `fn` with an upload session open at `location()`; on a stop meanwhile, the session is
   * deleted (best effort: a registry may not support it, and drops idle sessions anyway).
   */
  private async whileOpen<T>(repository: string, what: string, location: () => URL, fn: () => Promise<T>): Promise<T> {
    const unregister = this.stop?.onStop({ what: `the upload session of ${what} at ${this.registry}`, run: () => this.deleteSession(repository, what, location()) });
    try {
      return await fn();
    } finally {
      unregister?.();
    }
  }

  /** On stop: DELETE of an open upload session, so that the registry frees what it holds of it. */
  private async deleteSession(repository: string, what: string, location: URL): Promise<string> {
    const headers: Record<string, string> = {};
    const authorization = await this.auth.authorization(this.scopes(repository));
    if (authorization) headers.authorization = authorization;
    // Not through raw(): its requests carry the stop signal, aborted by now.
    const res = await send({ method: 'DELETE', url: location, headers }, this.pool);
    await drain(res);
    const gone = res.status < 300 || res.status === 404;
    return `the upload session of ${what} at ${this.registry} ${gone ? 'deleted' : `left open (DELETE answered ${res.status})`}`;
  }

  private withDigest(location: URL, digest: string): URL {
    const url = new URL(location);
    url.searchParams.append('digest', digest); // keeps the Location's own query (_state, ...)
    return url;
  }

  private checkStored(res: HttpResponse, digest: string, what: string): void {
    const returned = header(res, 'docker-content-digest');
    if (returned && returned !== digest) {
      throw new ModelSyncError('integrity', `cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.registry} stored ${what} as ${returned}`);
    }
  }

  /** Counts bytes as they are sent; once an attempt is over (`sent.closed`), late bytes no longer count. */
  private counting(stream: Readable, onBytes: ((n: number) => void) | undefined, sent: Sent): Readable {
    if (!onBytes) return stream;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        if (!sent.closed) {
          sent.n += chunk.length;
          onBytes(chunk.length);
        }
        done(null, chunk);
      },
    });
    stream.on('error', (err) => meter.destroy(err));
    return stream.pipe(meter);
  }

  private uploadMonolithic(repository: string, digest: string, size: number, open: BlobOpener, onBytes?: (n: number) => void): Promise<void> {
    const what = `blob ${digest}`;
    return this.retried(`upload of ${what}`, async () => {
      const sent: Sent = { n: 0, closed: false };
      try {
        const { location } = await this.startUpload(repository, what);
        const body: RequestBody = { length: size, open: () => this.counting(open(), onBytes, sent) };
        await this.whileOpen(repository, what, () => location, async () => {
          const res = await this.expect({ method: 'PUT', url: this.withDigest(location, digest), headers: { 'content-type': 'application/octet-stream' }, body }, this.scopes(repository), [201, 204], what);
          await drain(res);
          this.checkStored(res, digest, what);
        });
      } catch (err) {
        sent.closed = true;
        onBytes?.(-sent.n);
        throw err;
      }
    });
  }

  /**
   * A blob of known digest in PATCH chunks: each chunk opens its own range of the blob, so a
   * resumed attempt reads only what is still to send.
   */
  private uploadChunked(repository: string, digest: string, size: number, open: BlobOpener, opts: UploadOptions): Promise<ChunkedUploadResult> {
    const reader: ChunkReader = { chunk: (start, length) => open(start, start + length - 1), digest: async () => digest, close: () => undefined };
    return this.uploadInChunks(repository, { size, what: `blob ${digest}`, digest, begin: () => reader }, { chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE, onBytes: opts.onBytes, session: opts.session });
  }

  /**
   * The one chunked upload, for a known digest and for one computed on the way: POST (or the
   * session `opts.session` recorded), PATCH chunks in order with `Content-Range: start-end`, each
   * to the Location the previous answer gave, checking the returned Range, then an empty PUT with
   * the digest. Retry and resume are one path: after a fault, the registry is asked how far the
   * session got (GET Location -> Range) and a new attempt of `source` begins at that offset, so no
   * byte the registry holds is sent again. A session the registry lost or holds other bytes of
   * (404, BLOB_UPLOAD_UNKNOWN/INVALID, 416, an unexpected Range, DIGEST_INVALID at the PUT)
   * starts over in a new one. Failures in a row without progress, and sessions started over,
   * are each bounded by the retry attempts.
   */
  async uploadInChunks(repository: string, source: ChunkedSource, opts: ChunkedUploadOptions): Promise<ChunkedUploadResult> {
    const { size, what } = source;
    const scopes = this.scopes(repository);
    let location: URL | undefined = recordedLocation(opts.session?.location);
    const unregister = this.stop?.onStop({
      what: `the upload session of ${what} at ${this.registry}`,
      run: async () => (location ? this.deleteSession(repository, what, location) : `no upload session of ${what} open at ${this.registry}`),
    });
    let failures = 0;
    let restarts = 0;
    let bytesSent = 0;
    /** Bytes the current session took from this call (taken back from onBytes when it is lost). */
    let sessionBytes = 0;
    try {
      for (;;) {
        let reader: ChunkReader | undefined;
        const sent: Sent = { n: 0, closed: false };
        let inSession = false;
        try {
          let offset = 0;
          let minChunk = 0;
          if (location) {
            inSession = true;
            const status = await this.uploadStatus(location, repository, what);
            location = status.location;
            offset = status.next;
            if (offset > size) throw new SessionOutOfStep(`cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.registry} holds ${offset} bytes of ${what}, which has ${size}`);
          } else {
            const session = await this.startUpload(repository, what);
            inSession = true;
            location = session.location;
            minChunk = session.minChunk;
            sessionBytes = 0;
            await opts.session?.save(location.href, 0);
          }
          const resumedAt = offset;
          reader = await source.begin(offset);
          const chunk = Math.max(opts.chunkSize, minChunk);
          while (offset < size) {
            const start = offset;
            const end = Math.min(start + chunk, size) - 1;
            const at: URL = location;
            sent.n = 0;
            const res = await this.send(
              {
                method: 'PATCH',
                url: at,
                headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}` },
                body: { length: end - start + 1, open: () => this.counting(reader!.chunk(start, end - start + 1), opts.onBytes, sent) },
              },
              scopes,
            );
            if (res.status !== 202) {
              const body = await readBody(res, 64 * 1024).catch(() => undefined);
              throw noteRetryAfter(registryError(this.ctx, res.status, body, `${what} (chunk ${start}-${end})`), res.headers);
            }
            await drain(res);
            const range = header(res, 'range');
            const expectedRange = `0-${end}`;
            if (range && range.replace(/^bytes=/, '') !== expectedRange) {
              throw new SessionOutOfStep(`cannot ${this.ctx.operation} ${this.ctx.subject}: registry ${this.registry} holds range ${range} of ${what} after chunk ${start}-${end}, expected ${expectedRange}`);
            }
            const next = header(res, 'location');
            if (next) location = new URL(next, res.url);
            bytesSent += sent.n;
            sessionBytes += sent.n;
            sent.n = 0;
            offset = end + 1;
            failures = 0;
            await opts.session?.save(location.href, offset);
          }
          const digest = await reader.digest();
          if (source.digest && digest !== source.digest) throw new ModelSyncError('internal', `${what}: the source gave ${digest}`);
          const res = await this.expect({ method: 'PUT', url: this.withDigest(location, digest) }, scopes, [201, 204], what);
          await drain(res);
          this.checkStored(res, digest, what);
          location = undefined;
          await opts.session?.clear();
          return { digest, resumedAt, bytesSent };
        } catch (err) {
          sent.closed = true;
          opts.onBytes?.(-sent.n);
          reader?.close();
          if (this.stop?.signal.aborted) throw err; // the stop deletes the session
          const lost = inSession && lostSession(err);
          if (lost) {
            if (location) await this.cancelUpload(repository, location); // best effort: it holds bytes we do not trust
            location = undefined;
            opts.onBytes?.(-sessionBytes);
            sessionBytes = 0;
          } else if (!isTransient(err)) {
            // The source failed (a member of the wrong size, a file gone): nothing of it is kept.
            if (err instanceof ModelSyncError && err.kind === 'integrity' && location) {
              // distribution 2.8 refuses the DELETE (BLOB_UPLOAD_INVALID) when the broken-off PATCH
              // left bytes behind; that session is then unusable anyway, and purged by the registry.
              await this.cancelUpload(repository, location);
              await opts.session?.clear();
            }
            throw err;
          }
          // Otherwise a transient fault: the session (and its record) stay for the next attempt.
          const count = lost ? ++restarts : ++failures;
          const delay = retryDelay(this.retry, count, retryAfterOf(err));
          if (delay === undefined) throw !(err instanceof ModelSyncError) && isTransientNetworkError(err) ? brokenDownloadError(this.ctx, err, `upload of ${what}`) : err;
          this.log.warn({ attempt: count, delayMs: Math.round(delay), err: (err as Error).message }, `${this.ctx.operation} ${this.ctx.subject}: chunked upload of ${what}: ${lost ? 'session lost, starting over' : 'transient failure, resuming from the registry offset'}`);
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      unregister?.();
    }
  }

  /** Whether this client uploads every blob in one PUT (a registry known to refuse chunks, or the test flag). */
  get monolithicOnly(): boolean {
    return this.forceMonolithic || MONOLITHIC_ONLY.some((re) => re.test(this.base.hostname));
  }

  /**
   * `GET <location>`: the upload's next offset (from `Range: 0-N`) and its current Location.
   * distribution answers `0-0` both for an empty session and for one holding a single byte, so
   * `0-0` reads as offset 0: if a byte was held after all, the Range check after the next chunk
   * (or the digest at the end) fails and the blob starts over in a new session.
   */
  async uploadStatus(location: URL, repository: string, what = 'an upload session'): Promise<{ next: number; location: URL }> {
    const res = await this.expect({ method: 'GET', url: location }, this.scopes(repository), [202, 204], `the upload status of ${what}`);
    await drain(res);
    const range = header(res, 'range');
    const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range) : null;
    const last = m ? Number(m[1]) : 0;
    const next = last === 0 ? 0 : last + 1;
    const loc = header(res, 'location');
    return { next, location: loc ? new URL(loc, res.url) : location };
  }
}

/**
 * A registry may drop an upload session after a chunk broke off (distribution 2.8 cancels it when
 * the stored size and the session's offset disagree: "upload resumed at wrong offset"), or hold
 * other bytes than we think (a Range that disagrees, a digest that fails at the end).
 */
function lostSession(err: unknown): boolean {
  return (
    err instanceof SessionOutOfStep ||
    (err instanceof RegistryError && (err.code === 'BLOB_UPLOAD_INVALID' || err.code === 'BLOB_UPLOAD_UNKNOWN' || err.code === 'DIGEST_INVALID' || err.status === 404 || err.status === 416))
  );
}

/** A recorded session's Location, when it is a URL at all (a record is read from the volume). */
function recordedLocation(text: string | undefined): URL | undefined {
  if (!text) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function retryAfterOf(err: unknown): number | undefined {
  const ms = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof ms === 'number' ? ms : undefined;
}

interface Sent {
  n: number;
  closed: boolean;
}

/**
 * The registry's Range after a chunk is not the one we expect: the session holds other bytes than
 * we sent. The blob starts over in a new session; when the attempts are used up this is the error.
 */
class SessionOutOfStep extends ModelSyncError {
  constructor(message: string) {
    super('integrity', message);
    this.name = 'SessionOutOfStep';
  }
}

/**
 * A pass-through that hashes what flows and fails at the end when the digest (or size) differs:
 * nothing downstream may treat the data as complete before this stream ends cleanly.
 */
export function digestVerifier(expected: { digest: string; size?: number }, label: string): Transform {
  return new DigestVerifier(expected, label);
}

class DigestVerifier extends Sha256Meter {
  constructor(
    private readonly expected: { digest: string; size?: number },
    private readonly label: string,
  ) {
    super();
  }

  override _flush(done: TransformCallback): void {
    const digest = 'sha256:' + this.digestHex();
    const { expected } = this;
    if (digest !== expected.digest || (expected.size !== undefined && this.bytes !== expected.size)) {
      done(new ModelSyncError('integrity', `${this.label}: received ${this.bytes} bytes hashing to ${digest}, expected ${expected.digest}${expected.size !== undefined ? ` (${expected.size} bytes)` : ''}`));
    } else done();
  }
}

/**
 * Runs a download again, with the one retry policy, when its body broke off mid-stream (reset,
 * premature close, idle timeout); `fn` must start from scratch each time (its partial output is
 * discarded by the caller). Other ModelSyncErrors are not retried here: the client already retried
 * those. When the attempts are used up, a registry's BrokenDownloadError ends the step as transient.
 */
export function retryBrokenDownload<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  const broken = (err: unknown) => err instanceof BrokenDownloadError || (!(err instanceof ModelSyncError) && isTransientNetworkError(err));
  return withRetry(fn, { attempts, isTransient: broken, what: 'blob download' });
}
