// What an S3 GET answer must be before its bytes are kept, and what the finished file must match.
// A proxy, a CDN or an S3 clone that ignores Range answers 200 with the whole object: taking its
// first bytes as the asked part would corrupt the file silently, so every answer is checked
// against the bytes asked (status, Content-Range, Content-Length) and the listed size.
import { ModelSyncError } from '../errors.js';

/** The bytes one GET asked for; `ranged` false for a plain GET of the whole object. */
export interface AskedBytes {
  from: number;
  to: number;
  ranged: boolean;
}

/** The parts of a GetObject answer that say which bytes it carries. */
export interface GetAnswer {
  $metadata: { httpStatusCode?: number };
  ContentRange?: string;
  ContentLength?: number;
}

/**
 * Throws `integrity` when `answer` is not the asked bytes of an object of `size`. `where` names
 * the object and the part (`s3://bucket/key part 2 of 6`).
 */
export function checkAnswer(answer: GetAnswer, asked: AskedBytes, size: number, where: string): void {
  const status = answer.$metadata.httpStatusCode;
  const length = asked.to - asked.from + 1;
  const refuse = (what: string) => new ModelSyncError('integrity', `${where}: ${what}; nothing was kept`);
  if (asked.ranged) {
    const bytes = `bytes ${asked.from}-${asked.to}`;
    if (status !== 206) throw refuse(`asked for ${bytes} and got HTTP ${status ?? '?'} instead of 206 (a proxy or S3-compatible server ignoring Range?)`);
    if (answer.ContentRange !== `${bytes}/${size}`) throw refuse(`asked for ${bytes} of ${size} and got Content-Range "${answer.ContentRange ?? ''}"`);
  } else if (status !== 200) {
    throw refuse(`a GET of the whole object got HTTP ${status ?? '?'} instead of 200`);
  }
  if (answer.ContentLength !== undefined && answer.ContentLength !== length) {
    throw refuse(`asked for ${length} bytes and the answer carries ${answer.ContentLength} (Content-Length; the listing says the object has ${size})`);
  }
}

/** A body carrying more bytes than asked (no Content-Length, chunked). */
export function longerBodyError(where: string, length: number): ModelSyncError {
  return new ModelSyncError('integrity', `${where}: the answer carries more than the ${length} bytes asked; nothing was kept`);
}

/**
 * The MD5 (hex) an ETag stands for, or undefined. Only a single-part object's ETag is its MD5: a
 * multipart ETag is `"<hex>-<parts>"`, and SSE-KMS or SSE-C ETags are not MD5s (encryptionHidesMd5).
 */
export function etagMd5(etag: string | undefined): string | undefined {
  const m = /^"?([0-9a-fA-F]{32})"?$/.exec(etag ?? '');
  return m ? m[1]!.toLowerCase() : undefined;
}

/** SSE-KMS (aws:kms, aws:kms:dsse) and SSE-C objects have ETags that are not the MD5 of their bytes. */
export function encryptionHidesMd5(answer: { ServerSideEncryption?: string; SSECustomerAlgorithm?: string }): boolean {
  return Boolean(answer.SSECustomerAlgorithm) || (answer.ServerSideEncryption ?? '').startsWith('aws:kms');
}

export function md5MismatchError(where: string, md5: string, etag: string): ModelSyncError {
  return new ModelSyncError(
    'integrity',
    `${where}: the downloaded bytes have MD5 ${md5} but the object's ETag is ${etag}; nothing was kept (if a re-run fails the same way, something on the way alters the bytes)`,
  );
}
