// Step assemble (scale-out, docs/scale-out.md): not built yet.
import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runAssemble: StepRunner = async () => {
  throw new ModelSyncError('internal', 'assemble is not built yet');
};
