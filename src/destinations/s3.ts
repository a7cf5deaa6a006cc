// Push destination `s3`: the files of model/ under a key prefix.
import { ModelSyncError } from '../errors.js';
import type { StepContext } from '../steps/types.js';

export interface S3PushResult {
  uri: string;
  files: number;
  bytes: number;
  skipped: number;
}

export async function pushToS3(_ctx: StepContext): Promise<S3PushResult> {
  throw new ModelSyncError('internal', 'destination-type s3 is not implemented yet');
}
