// Step plan (scale-out, docs/scale-out.md): not built yet.
import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runPlan: StepRunner = async (ctx) => {
  if (ctx.settings.destinationType() === 's3') return (await import('./parts-s3.js')).planS3(ctx);
  throw new ModelSyncError('internal', 'plan is not built yet');
};
