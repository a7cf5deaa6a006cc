// Step assemble (scale-out, docs/scale-out.md): not built yet.
import { ModelSyncError } from '../errors.js';
import type { StepRunner } from './types.js';

export const runAssemble: StepRunner = async (ctx) => {
  if (ctx.settings.destinationType() === 's3') return (await import('./parts-s3.js')).assembleS3(ctx);
  throw new ModelSyncError('internal', 'assemble is not built yet');
};
