import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runPush: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step push is not implemented yet');
};
