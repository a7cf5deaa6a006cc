// Multipart uploads left open on a bucket: listed under a prefix and aborted. An open upload keeps
// its parts stored (and billed) until it is completed or aborted; a push stopped by SIGTERM aborts
// its own, and the next push aborts those a killed one left.
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { MultipartUpload } from './upload.js';

export interface ListedMultipartUpload extends MultipartUpload {
  initiated?: Date;
}

/** Every open multipart upload of `bucket` whose key starts with `prefix`, all pages. */
export async function listMultipartUploads(client: S3Client, bucket: string, prefix: string): Promise<ListedMultipartUpload[]> {
  const found: ListedMultipartUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, ...(keyMarker ? { KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker } : {}) }),
    );
    for (const u of page.Uploads ?? []) {
      if (u.Key && u.UploadId) found.push({ bucket, key: u.Key, uploadId: u.UploadId, ...(u.Initiated ? { initiated: u.Initiated } : {}) });
    }
    if (!page.IsTruncated || !page.NextKeyMarker) return found;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

/** Aborts one upload; true when it was open, false when the server no longer knows it. */
export async function abortMultipartUpload(client: S3Client, upload: MultipartUpload): Promise<boolean> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: upload.uploadId }));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchUpload') return false;
    throw err;
  }
}
