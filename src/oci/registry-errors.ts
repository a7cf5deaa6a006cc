// Registry answers and network faults become one-line ModelSyncErrors that name the registry and
// the reference: 401/403 -> auth, 404 (NAME/MANIFEST/BLOB_UNKNOWN) -> notFound, connection
// faults, 5xx/429 and bodies that broke off -> transient (retried by the client before they
// surface), manifests over the size limit -> unsafe.
import { ModelSyncError, type ErrorKind } from '../errors.js';
import { isTransientNetworkError, TRANSIENT_HTTP_STATUS } from '../net/retry.js';

export interface ErrorContext {
  /** `127.0.0.1:5000`, `quay.io` */
  registry: string;
  /** The reference the user asked for, `quay.io/org/model:v1`. */
  subject: string;
  /** `pull`, `push`, `fetch`: the verb of the message. */
  operation: string;
}

export interface RegistryErrorBody {
  code?: string;
  message?: string;
}

/** The first `{code, message}` of a registry error body, or a short text when it is not JSON. */
export function parseErrorBody(body: Buffer | string | undefined): RegistryErrorBody | undefined {
  if (!body || body.length === 0) return undefined;
  const text = body.toString().trim();
  try {
    const parsed = JSON.parse(text) as { errors?: RegistryErrorBody[]; error?: string; details?: string };
    const first = parsed.errors?.[0];
    if (first) return { code: first.code, message: first.message };
    if (typeof parsed.error === 'string') return { message: parsed.details ? `${parsed.error}: ${parsed.details}` : parsed.error };
  } catch {
    // not JSON: fall through
  }
  const line = text.replace(/\s+/g, ' ').slice(0, 200);
  return line ? { message: line } : undefined;
}

function describeBody(status: number, body: RegistryErrorBody | undefined): string {
  const parts = [`HTTP ${status}`];
  if (body?.code) parts.push(body.code);
  const detail = body?.message ? `: ${body.message}` : '';
  return `${parts.join(' ')}${detail}`;
}

/** Turns a registry answer that is not a success into an error (what: "manifest", "blob sha256:..", ...). */
export function registryError(ctx: ErrorContext, status: number, rawBody: Buffer | undefined, what: string, hint?: string): ModelSyncError {
  const body = parseErrorBody(rawBody);
  const code = body?.code ?? '';
  const cause = describeBody(status, body);
  const prefix = `cannot ${ctx.operation} ${ctx.subject}`;
  let kind: ErrorKind;
  let text: string;
  if (status === 401) {
    kind = 'auth';
    text = `${prefix}: registry ${ctx.registry} refused the request for ${what} (${cause})${hint ? `; ${hint}` : ''}`;
  } else if (status === 403) {
    kind = 'auth';
    text = `${prefix}: registry ${ctx.registry} denied access to ${what} (${cause})${hint ? `; ${hint}` : ''}`;
  } else if (status === 404 || code === 'NAME_UNKNOWN' || code === 'MANIFEST_UNKNOWN' || code === 'BLOB_UNKNOWN') {
    kind = 'notFound';
    const noun = code === 'NAME_UNKNOWN' ? 'repository' : what;
    text = `${prefix}: ${noun} not found on registry ${ctx.registry} (${cause})`;
  } else if (TRANSIENT_HTTP_STATUS.has(status) || status >= 500) {
    kind = 'transient';
    text = `${prefix}: registry ${ctx.registry} failed on ${what} (${cause})`;
  } else if (code === 'DIGEST_INVALID' || code === 'SIZE_INVALID') {
    kind = 'integrity';
    text = `${prefix}: registry ${ctx.registry} rejected ${what} (${cause})`;
  } else if (code === 'NAME_INVALID' || code === 'TAG_INVALID') {
    kind = 'config';
    text = `${prefix}: registry ${ctx.registry} rejected the name (${cause})`;
  } else {
    kind = 'internal';
    text = `${prefix}: registry ${ctx.registry} rejected ${what} (${cause})`;
  }
  return new RegistryError(kind, text, status, code);
}

export class RegistryError extends ModelSyncError {
  constructor(
    kind: ErrorKind,
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(kind, message);
    this.name = 'RegistryError';
  }
}

/** `ECONNRESET: socket hang up`: the code and the message of a network fault, on one line. */
function faultDetail(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e?.code ? `${e.code}: ` : '') + (e?.message ?? String(err)).replace(/\s+/g, ' ');
}

/** A connection fault (refused, reset, timeout, DNS) as an error naming the registry. */
export function networkError(ctx: ErrorContext, err: unknown, host: string): ModelSyncError {
  // net's own one-line errors (a refused certificate naming its setting) keep their kind.
  if (err instanceof ModelSyncError) return new ModelSyncError(err.kind, `cannot ${ctx.operation} ${ctx.subject}: ${err.message}`, { cause: err });
  const e = err as NodeJS.ErrnoException;
  const detail = faultDetail(err);
  const isRegistry = host === ctx.registry || host.endsWith(`//${ctx.registry}`);
  const where = isRegistry ? `registry ${ctx.registry}` : `${host} (for registry ${ctx.registry})`;
  if (e?.code && /^(ERR_TLS|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/.test(e.code)) {
    return new ModelSyncError('config', `cannot ${ctx.operation} ${ctx.subject}: TLS verification of ${where} failed (${detail}); install its CA or disable verification explicitly`, { cause: err });
  }
  const kind: ErrorKind = isTransientNetworkError(err) ? 'transient' : 'internal';
  return new ModelSyncError(kind, `cannot ${ctx.operation} ${ctx.subject}: ${where} is unreachable (${detail})`, { cause: err });
}

/**
 * A TLS handshake that met a server speaking plain HTTP: OpenSSL reads the HTTP answer as a TLS
 * record ("wrong version number", "packet length too long", "http request").
 */
export function answersPlainHttp(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e || typeof e.message !== 'string') return false;
  const sslCode = e.code === 'EPROTO' || /^ERR_SSL_/.test(e.code ?? '');
  return sslCode && /wrong[ _]version[ _]number|packet[ _]length[ _]too[ _]long|http[ _]request/i.test(`${e.code} ${e.message}`);
}

export function plainHttpError(ctx: ErrorContext, host: string, tlsSetting: string | undefined, cause: unknown): ModelSyncError {
  const [flag, env] = (tlsSetting ?? '').split(' / ');
  const setting = flag && env ? `${flag} false / ${env}=false` : flag ? `${flag} false` : 'TLS verification of this registry to false';
  return new ModelSyncError('config', `cannot ${ctx.operation} ${ctx.subject}: ${host} answers plain HTTP, not HTTPS; set ${setting} to allow plain HTTP`, { cause });
}

/**
 * An answer's body that broke off mid-way (reset, premature close, a silent socket): transient.
 * Downloads that start again from scratch (retryBrokenDownload) try it again; when they give up it
 * ends the step with the transient exit code.
 */
export class BrokenDownloadError extends ModelSyncError {
  constructor(message: string, cause: unknown) {
    super('transient', message, { cause });
    this.name = 'BrokenDownloadError';
  }
}

export function brokenDownloadError(ctx: ErrorContext, err: unknown, what: string): BrokenDownloadError {
  return new BrokenDownloadError(`cannot ${ctx.operation} ${ctx.subject}: the download of ${what} from registry ${ctx.registry} broke off (${faultDetail(err)})`, err);
}

/** A manifest (or config) larger than the client reads into memory; `size` when the registry declared it. */
export function tooLargeError(ctx: ErrorContext, what: string, limit: number, size: number | undefined): ModelSyncError {
  const sent = size !== undefined ? `of ${size} bytes` : `of more than ${limit} bytes`;
  return new ModelSyncError('unsafe', `cannot ${ctx.operation} ${ctx.subject}: registry ${ctx.registry} sent ${what} ${sent}, over the limit of ${limit} bytes (${limit / (1024 * 1024)} MiB) that this client reads; refusing it`);
}
