// push --part I/N (scale-out, docs/scale-out.md): not built yet.
import { ModelSyncError } from '../errors.js';
import type { StepContext, StepOutcome } from './types.js';

export async function runPushPart(ctx: StepContext, part: { index: number; parts: number }): Promise<StepOutcome> {
  if (ctx.settings.destinationType() === 's3') return (await import('./parts-s3.js')).pushS3Part(ctx, part);
  throw new ModelSyncError('internal', 'push --part is not built yet');
}
