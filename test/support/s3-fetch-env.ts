// The environment of `fetch` from an s3rver bucket, shared by the S3 fetch tests.
import { S3RVER_KEY, S3RVER_SECRET } from '../../dev/s3-server.js';

/** `endpoint` is the s3rver's, or a fault proxy's in front of it. */
export function s3FetchEnv(bucket: string, endpoint: string, storagePath: string, key: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODEL_SYNC_STORAGE_PATH: storagePath,
    MODEL_SYNC_SOURCE_TYPE: 's3',
    MODEL_SYNC_SOURCE_AWS_BUCKET: bucket,
    MODEL_SYNC_SOURCE_AWS_KEY: key,
    MODEL_SYNC_SOURCE_AWS_ENDPOINT: endpoint,
    MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_KEY,
    MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
    ...extra,
  };
}
