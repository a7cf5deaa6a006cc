import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runMarkFailed: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step mark-failed is not implemented yet');
};
