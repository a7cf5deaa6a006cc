// Destination `s3` for the streaming `all`: each source file goes straight into its S3 object, its
// body read from the source (StreamFile.open) while it is sent, never written to the workspace.
// The upload is push's (uploadToS3 in s3.ts): the same keys under the prefix, the same URI, the
// same s3-uploads.json record and abort of stale uploads, the same abort of open multipart uploads
// on stop. Only the bodies differ, and large files go several at once, since each streams from its
// own source connection.
//
// Memory: part buffers of 16 MiB (UPLOAD_PART_SIZE). Small files (one part or less) go `concurrency`
// at a time, each held whole before its PUT; large ones go up to `concurrency` files at once with
// concurrency / files parts in flight each, plus the part each is filling. So below
// 2 x concurrency x 16 MiB (128 MiB at the default push-concurrency of 4), whatever the model's size.
//
// Skipping: a key that already holds an object of the file's size is skipped, as push skips it. It is
// the only test either path makes (push does not compare digests either: S3 ETags of multipart
// objects are not content digests), so a streamed re-run after a crash sends only what is missing.
// A different model with files of the same sizes under the same prefix is not sent again: write
// each model version under a prefix of its own (docs/fetch.md).
import { ModelSyncError } from '../errors.js';
import type { S3Settings } from '../s3/client.js';
import type { StreamFile } from '../util/stream-file.js';
import { normaliseRelative, safeJoin } from '../workspace/safe-path.js';
import { uploadToS3, type S3PushContext, type S3PushResult } from './s3.js';

export async function streamToS3(ctx: S3PushContext, settings: S3Settings, files: readonly StreamFile[]): Promise<S3PushResult> {
  const seen = new Set<string>();
  const objects = files.map((file) => {
    const what = `source file "${file.path}"`;
    // The rules of a path fetch would write under model/ (no "..", no absolute path): the key
    // prefix/<path> must name the same file a later fetch of the prefix writes back.
    safeJoin('/model', file.path, what);
    const path = normaliseRelative(file.path);
    if (seen.has(path)) throw new ModelSyncError('unsafe', `${what}: the source lists the path twice`);
    seen.add(path);
    if (!Number.isSafeInteger(file.size) || file.size < 0) throw new ModelSyncError('integrity', `${what}: size ${file.size} is not a byte count`);
    return { path, size: file.size, what, open: (signal?: AbortSignal) => file.open(0, signal) };
  });
  const totalBytes = objects.reduce((n, o) => n + o.size, 0);
  return uploadToS3(ctx, settings, objects, { totalBytes, line: 'streaming model files from the source to S3 (no copy on the volume)', largeFilesInParallel: true });
}
