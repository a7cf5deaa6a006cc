// push --part I/N (scale-out, docs/scale-out.md): not built yet.
import { ModelSyncError } from '../errors.js';
import type { StepContext, StepOutcome } from './types.js';

export async function runPushPart(_ctx: StepContext, _part: { index: number; parts: number }): Promise<StepOutcome> {
  throw new ModelSyncError('internal', 'push --part is not built yet');
}
