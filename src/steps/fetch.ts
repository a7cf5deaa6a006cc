import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runFetch: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step fetch is not implemented yet');
};
