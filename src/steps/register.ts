import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runRegister: StepRunner = async () => {
  throw new ModelSyncError('internal', 'step register is not implemented yet');
};
