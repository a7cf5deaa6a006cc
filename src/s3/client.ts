// S3 clients for S3-compatible storage: path-style addressing when an endpoint is given (MinIO,
// Ceph, s3rver), us-east-1 by default, keep-alive connections sized to the transfer concurrency,
// and checksums only where S3 requires them (servers such as s3rver store aws-chunked bodies verbatim).
import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';

export const DEFAULT_REGION = 'us-east-1';

export interface S3Settings {
  bucket: string;
  key: string;
  region: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export function createS3Client(settings: S3Settings, connections: number): S3Client {
  // The SDK is pinned on purpose while on Node 20; its notice about future releases would be a
  // non-JSON line in the middle of the JSON log on stderr.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const agentOptions = { keepAlive: true, maxSockets: Math.max(4, connections * 2) };
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    // Without keys the SDK's default chain applies (environment, web identity / IRSA, instance role).
    ...(settings.accessKeyId && settings.secretAccessKey
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    requestHandler: {
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: 15_000,
      // idle socket: a stalled body fails instead of hanging forever
      socketTimeout: 120_000,
    },
  });
}
