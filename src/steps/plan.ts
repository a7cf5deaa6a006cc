// Step plan (scale-out, docs/scale-out.md): not built yet.
import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runPlan: StepRunner = async () => {
  throw new ModelSyncError('internal', 'plan is not built yet');
};
