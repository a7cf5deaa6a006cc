// Any failure while unpacking an archive entry ends as one line naming the entry: our own errors
// keep their kind (unsafe, integrity, ...); anything else (a library's or the file system's) is
// an `integrity` error, since the archive could not be unpacked as it is.
import { ModelSyncError } from '../errors.js';

export function entryFailure(err: unknown, what: string): ModelSyncError {
  if (err instanceof ModelSyncError) return err;
  return new ModelSyncError('integrity', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
