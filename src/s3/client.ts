// S3 clients for S3-compatible storage: path-style addressing when an endpoint is given (MinIO,
// Ceph, s3rver), us-east-1 by default, keep-alive connections sized to the transfer concurrency,
// and checksums only where S3 requires them (servers such as s3rver store aws-chunked bodies verbatim).
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { AgentPool, type NetworkSettings } from '../net/policy.js';
import { RETRY_DEFAULTS, retryDelay } from '../net/retry.js';
import { isTransientS3Error, KEY_HINT } from './errors.js';

export interface S3Settings {
  bucket: string;
  key: string;
  region: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** How the key settings are named in messages (`--flag / MODEL_SYNC_ENV`), for a refused key or secret. */
  keySettings?: KeySettingNames;
}

export interface KeySettingNames {
  accessKeyId: string;
  secretAccessKey: string;
}

/** `network` defaults to 120 s of silence and the retry policy's attempts (the test servers' own clients). */
export function createS3Client(settings: S3Settings, connections: number, network?: NetworkSettings): S3Client {
  // A silent socket fails instead of hanging on a stalled body.
  const idleTimeoutMs = network?.idleTimeoutMs ?? 120_000;
  const attempts = network?.retryAttempts ?? RETRY_DEFAULTS.attempts;
  const pool = new AgentPool({ tlsVerify: true, maxSockets: Math.max(4, connections * 2), connectTimeoutMs: 15_000, idleTimeoutMs, proxy: network?.proxy });
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    // Without keys the SDK's default chain applies (environment, web identity / IRSA, instance role).
    ...(settings.accessKeyId && settings.secretAccessKey
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // With a retry strategy given, the SDK uses maxAttempts only in its amz-sdk-request header.
    maxAttempts: attempts,
    retryStrategy: sdkRetryStrategy(attempts),
    requestHandler: pool.s3Handler(),
  });
  if (settings.keySettings) nameKeySettingsOnRefusal(client, settings.keySettings);
  return client;
}

/**
 * A refused key or secret names the setting to fix: the error of every request of this client
 * (also those lib-storage's Upload sends) carries the hint that s3Error adds to its message.
 */
function nameKeySettingsOnRefusal(client: S3Client, names: KeySettingNames): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
        const hint = keyRefusalHint(e?.name, e?.$metadata?.httpStatusCode, names);
        if (hint && err && typeof err === 'object') Object.assign(err, { [KEY_HINT]: hint });
        throw err;
      }
    },
    { step: 'initialize', name: 'nameKeySettingsOnRefusal' },
  );
}

function keyRefusalHint(name: string | undefined, status: number | undefined, names: KeySettingNames): string | undefined {
  // SigV4: the server knows the access key id but the request was signed with another secret.
  if (name === 'SignatureDoesNotMatch') return `the secret access key does not match the access key id; check ${names.secretAccessKey}`;
  if (name === 'InvalidAccessKeyId') return `the server does not know this access key id; check ${names.accessKeyId}`;
  // A HEAD answer has no body, so no error code: a wrong secret and a missing permission look alike.
  if (status === 403 && (name === 'Unknown' || name === 'Forbidden')) return `a wrong secret or key id, or missing permissions; check ${names.secretAccessKey} and ${names.accessKeyId}`;
  return undefined;
}

type SdkRetryStrategy = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { acquireInitialRetryToken: unknown }>;

/**
 * S3 requests are retried by the SDK, one request at a time, with our policy (backoff, attempts,
 * Retry-After, transient list): a failed part of a multipart upload is sent again alone, where a
 * loop around lib-storage's Upload would restart the whole file. Nothing wraps these calls in a
 * second loop, so a persistent fault costs the policy's attempts, not attempts x attempts; only a
 * download body cut mid-way is taken up again outside (download.ts), as the SDK has handed the
 * stream over by then.
 */
function sdkRetryStrategy(attempts: number): SdkRetryStrategy {
  const token = (retries: number, delayMs: number) => ({ getRetryCount: () => retries, getRetryDelay: () => delayMs });
  return {
    acquireInitialRetryToken: async () => token(0, 0),
    refreshRetryTokenForRetry: async (previous, info) => {
      const failed = previous.getRetryCount() + 1;
      const retryAfterMs = info.retryAfterHint ? info.retryAfterHint.getTime() - Date.now() : undefined;
      const delay = isTransientS3Error(info.error) ? retryDelay({ ...RETRY_DEFAULTS, attempts }, failed, retryAfterMs) : undefined;
      // Refusing the token makes the SDK throw the request's own error.
      if (delay === undefined) throw new Error('no retry');
      return token(failed, delay);
    },
    recordSuccess: () => undefined,
  };
}
