// S3 SDK errors as ModelSyncErrors that name the bucket and key.
import { ModelSyncError } from '../errors.js';
import { isTransientNetworkError, TRANSIENT_HTTP_STATUS } from '../net/retry.js';
import { proxyAuthRefused } from '../net/proxy-rules.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const NOT_FOUND = new Set(['NoSuchBucket', 'NoSuchKey', 'NotFound']);
const AUTH = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'Forbidden',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AuthorizationHeaderMalformed',
]);

/** The property of an SDK error that names the key setting to fix (set by the client, s3/client.ts). */
export const KEY_HINT = 'modelSyncKeyHint';

export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

// The SDK's checksum stream (ChecksumMode ENABLED) reports a mismatch at the end of the body as a plain Error.
const CHECKSUM_MISMATCH = /^Checksum mismatch:/;

/** A connection fault or a server-side error worth another try: net's list, plus what the SDK marks retryable. */
export function isTransientS3Error(err: unknown): boolean {
  if (err instanceof ModelSyncError) return err.kind === 'transient';
  const e = err as SdkError;
  if (isTransientNetworkError(err)) return true;
  if (e?.$retryable) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && TRANSIENT_HTTP_STATUS.has(status)) return true;
  return e?.name === 'TimeoutError' || e?.name === 'RequestTimeout';
}

/** Maps an SDK error of `action` on s3://bucket/key to the error kind the CLI reports. */
export function s3Error(err: unknown, action: string, bucket: string, key: string): ModelSyncError {
  if (err instanceof ModelSyncError) return err;
  const e = err as SdkError;
  const name = e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const where = s3Uri(bucket, key);
  if (CHECKSUM_MISMATCH.test(e?.message ?? '')) {
    return new ModelSyncError('integrity', `${action} ${where}: the bytes do not match the checksum the server sent (${e.message}); nothing was kept`, { cause: err });
  }
  if (status === 407) return proxyAuthRefused(`${action} ${where}`, err);
  if (name === 'NoSuchBucket') return new ModelSyncError('notFound', `${action} ${where}: bucket "${bucket}" does not exist`, { cause: err });
  if (NOT_FOUND.has(name) || status === 404) return new ModelSyncError('notFound', `${action} ${where}: no such object`, { cause: err });
  // RGW (and MinIO) answer 403 QuotaExceeded: the destination is full, not a refused key.
  if (name === 'QuotaExceeded') {
    return new ModelSyncError('noSpace', `${action} ${where}: the bucket's or its owner's storage quota is exceeded (QuotaExceeded); free room in the bucket or raise the quota`, { cause: err });
  }
  if (AUTH.has(name) || status === 401 || status === 403) {
    const keyHint = (err as Record<string, unknown>)[KEY_HINT];
    const hint = name === 'CredentialsProviderError' ? ' (no credentials found: set the access key id and secret access key)' : typeof keyHint === 'string' ? `: ${keyHint}` : '';
    // A HEAD answer has no body, so the SDK names its error "Unknown": say the status instead.
    const what = name === 'Unknown' && status !== undefined ? `HTTP ${status}` : name;
    return new ModelSyncError('auth', `${action} ${where}: access refused (${what})${hint}`, { cause: err });
  }
  if (isTransientS3Error(err)) {
    return new ModelSyncError('transient', `${action} ${where}: ${name}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? ''}`.trim(), { cause: err });
  }
  return new ModelSyncError('internal', `${action} ${where}: ${name}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? ''}`.trim(), { cause: err });
}
