// The environment of `fetch` from an S3 bucket, shared by the S3 fetch tests.
import { S3RVER_KEY, S3RVER_SECRET } from '../../dev/s3-server.js';

export interface S3Keys {
  accessKey: string;
  secretKey: string;
}

/** `endpoint` is the server's, or a fault proxy's in front of it; `keys` default to s3rver's. */
export function s3FetchEnv(bucket: string, endpoint: string, storagePath: string, key: string, extra: Record<string, string> = {}, keys: S3Keys = { accessKey: S3RVER_KEY, secretKey: S3RVER_SECRET }): Record<string, string> {
  return {
    MODEL_SYNC_STORAGE_PATH: storagePath,
    MODEL_SYNC_SOURCE_TYPE: 's3',
    MODEL_SYNC_SOURCE_AWS_BUCKET: bucket,
    MODEL_SYNC_SOURCE_AWS_KEY: key,
    MODEL_SYNC_SOURCE_AWS_ENDPOINT: endpoint,
    MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: keys.accessKey,
    MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: keys.secretKey,
    ...extra,
  };
}
