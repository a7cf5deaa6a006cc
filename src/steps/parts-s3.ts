// Scale-out to an S3 destination (docs/scale-out.md): not built yet. plan.ts, push-part.ts and
// assemble.ts hand S3 destinations over to these.
import { ModelSyncError } from '../errors.js';
import type { StepContext, StepOutcome } from './types.js';

export async function planS3(_ctx: StepContext): Promise<StepOutcome> {
  throw new ModelSyncError('internal', 'plan for an S3 destination is not built yet');
}

export async function pushS3Part(_ctx: StepContext, _part: { index: number; parts: number }): Promise<StepOutcome> {
  throw new ModelSyncError('internal', 'push --part to an S3 destination is not built yet');
}

export async function assembleS3(_ctx: StepContext): Promise<StepOutcome> {
  throw new ModelSyncError('internal', 'assemble for an S3 destination is not built yet');
}
