import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runAll: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step all is not implemented yet');
};
