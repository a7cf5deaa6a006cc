import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runPreflight: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step preflight is not implemented yet');
};
