// What an S3 source names: a "folder" (every object under <key>/) or a single object.
// Only keys under `<key>/` belong to a folder, so `my-model` never picks up `my-model2/x`.
// Every key is checked before anything is downloaded: a key that would land outside model/
// (`..`, an absolute path) fails the whole fetch with an `unsafe` error naming bucket and key.
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ModelSyncError } from '../errors.js';
import { normaliseRelative, safeJoin } from '../workspace/safe-path.js';
import { s3Error, s3Uri } from './errors.js';

export interface S3ObjectEntry {
  key: string;
  /** Slash-separated path under model/ */
  relative: string;
  size: number;
  etag?: string;
}

export interface S3Listing {
  kind: 'folder' | 'object';
  objects: S3ObjectEntry[];
}

/** Lists what `s3://bucket/key` names; `modelDir` is only used to check that paths stay inside. */
export async function listS3Source(client: S3Client, bucket: string, key: string, modelDir: string): Promise<S3Listing> {
  const base = key.replace(/\/+$/, '');
  const prefix = base === '' ? '' : `${base}/`;
  const objects: S3ObjectEntry[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    } catch (err) {
      throw s3Error(err, 'listing', bucket, prefix);
    }
    for (const o of page.Contents ?? []) {
      if (!o.Key || !o.Key.startsWith(prefix) || o.Key.endsWith('/')) continue; // folder markers carry no data
      objects.push(entry(bucket, o.Key, o.Key.slice(prefix.length), o.Size ?? 0, o.ETag, modelDir));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);

  if (objects.length > 0) {
    assertDistinct(bucket, objects);
    return { kind: 'folder', objects };
  }
  if (base === '') throw new ModelSyncError('notFound', `${s3Uri(bucket, key)}: the bucket holds no objects`);

  // No folder of that name: a single object, stored as model/<basename>.
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { kind: 'object', objects: [entry(bucket, key, path.posix.basename(key), head.ContentLength ?? 0, head.ETag, modelDir)] };
  } catch (err) {
    const mapped = s3Error(err, 'reading', bucket, key);
    if (mapped.kind === 'notFound') {
      throw new ModelSyncError('notFound', `${s3Uri(bucket, key)}: no object with this key and no objects under ${s3Uri(bucket, prefix)}`, { cause: err });
    }
    throw mapped;
  }
}

function entry(bucket: string, key: string, relative: string, size: number, etag: string | undefined, modelDir: string): S3ObjectEntry {
  safeJoin(modelDir, relative, `S3 object ${s3Uri(bucket, key)}`); // throws `unsafe` for hostile keys
  return { key, relative: normaliseRelative(relative), size, ...(etag ? { etag } : {}) };
}

/** `a//b` and `a/b` would write the same file: refuse rather than let one overwrite the other. */
function assertDistinct(bucket: string, objects: S3ObjectEntry[]): void {
  const seen = new Map<string, string>();
  for (const o of objects) {
    const other = seen.get(o.relative);
    if (other !== undefined) {
      throw new ModelSyncError('unsafe', `refusing S3 objects ${s3Uri(bucket, other)} and ${s3Uri(bucket, o.key)}: both map to model/${o.relative}`);
    }
    seen.set(o.relative, o.key);
  }
}
