import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runPackage: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step package is not implemented yet');
};
