// Where a scale-out run to an S3 destination meets (docs/scale-out.md): the plan and each part's
// result as small JSON objects in the destination bucket, beside the model's prefix, never under it.
//
// "Beside" is meant as S3 listings see it: KServe's storage initializer lists the model with
// Prefix=<prefix> and no trailing slash, so `<prefix>.model-sync-plan.json` would be downloaded
// with the model. The records go to `<parent>/.model-sync-parts/<name>/` instead (for the prefix
// `<parent>/<name>`), a key that does not start with the prefix; a prefix whose keys would is refused.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../errors.js';
import type { NetworkSettings } from '../net/policy.js';
import { createS3Client, type S3Settings } from '../s3/client.js';
import { s3Error } from '../s3/errors.js';

/** The folder beside each model prefix that holds its scale-out records. */
export const PART_RECORDS_FOLDER = '.model-sync-parts';

export interface S3PartKeys {
  /** The model's key prefix, without leading or trailing slash (as the upload writes it). */
  prefix: string;
  /** s3://bucket/prefix: the model's URI, and the destination a plan names. */
  uri: string;
  /** Folder of the records, ending in `/`. */
  folder: string;
  plan: string;
  part(index: number, parts: number): string;
}

/**
 * The record keys of the destination `settings` names. `keySetting` names the key prefix setting in
 * the refusals: the bucket root (every key of the bucket is the model, no room beside it), or a
 * prefix that the records' folder would fall under.
 */
export function s3PartKeys(settings: S3Settings, keySetting: string): S3PartKeys {
  const prefix = settings.key.replace(/^\/+|\/+$/g, '');
  if (!prefix) {
    throw new ConfigError(`${keySetting} is the bucket root: a scale-out run needs a key prefix, so that its plan and part records sit beside the model, not in it`);
  }
  const cut = prefix.lastIndexOf('/');
  const parent = prefix.slice(0, cut + 1);
  const name = prefix.slice(cut + 1);
  const folder = `${parent}${PART_RECORDS_FOLDER}/${name}/`;
  if (folder.startsWith(prefix)) {
    // Only when the last segment is the start of the folder's name (".", ".model", ...).
    throw new ConfigError(`${keySetting} "${prefix}": its last segment begins "${PART_RECORDS_FOLDER}", so the scale-out records (${folder}) would fall under the model's prefix; choose another name`);
  }
  return {
    prefix,
    uri: `s3://${settings.bucket}/${prefix}`,
    folder,
    plan: `${folder}plan.json`,
    part: (index, parts) => `${folder}part-${index}-of-${parts}.json`,
  };
}

/** The records of one destination: small JSON objects read, written, listed and removed whole. */
export class S3PartRecords {
  readonly bucket: string;
  private readonly client: S3Client;

  constructor(
    settings: S3Settings,
    readonly keys: S3PartKeys,
    connections: number,
    network: NetworkSettings,
  ) {
    this.bucket = settings.bucket;
    this.client = createS3Client(settings, connections, network);
  }

  where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** The object's text, or undefined when there is none. */
  async read(key: string): Promise<string | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await got.Body!.transformToString('utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw s3Error(err, 'reading', this.bucket, key);
    }
  }

  async write(key: string, text: string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: text, ContentType: 'application/json' }));
    } catch (err) {
      throw s3Error(err, 'writing', this.bucket, key);
    }
  }

  /** The size of the object under `key`, or undefined when there is none. */
  async size(key: string): Promise<number | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).ContentLength ?? 0;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw s3Error(err, 'checking', this.bucket, key);
    }
  }

  /** Keys (with their sizes) under `prefix`, every page. */
  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const out: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
        for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key, size: o.Size ?? 0 });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw s3Error(err, 'listing', this.bucket, prefix);
    }
    return out;
  }

  async remove(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw s3Error(err, 'removing', this.bucket, key);
    }
  }

  close(): void {
    this.client.destroy();
  }
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
