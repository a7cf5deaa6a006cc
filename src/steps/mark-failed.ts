// Step mark-failed: after a failed transfer, settle what preflight/register left (no artifact
// stays PENDING; what this job half-created is archived) and say which ids exist.
import { openRegistrySession } from '../model-registry/session.js';
import { registryContext } from './registry-context.js';
import { settleFailure, type SettleReport } from '../model-registry/settle.js';
import type { StepContext, StepRunner } from './types.js';

export const runMarkFailed: StepRunner = async (ctx) => {
  const report = await markFailed(ctx, ctx.settings.failureReason());
  const artifact = report.entities.find((e) => e.type === 'ModelArtifact');
  return {
    results: { 'model-artifact-id': artifact?.id ?? '' },
    termination: report.summary,
    summary: { settled: report.summary },
  };
};

/** Shared with `all`, which runs it after a failure. */
export async function markFailed(ctx: StepContext, reason: string | undefined): Promise<SettleReport> {
  const session = await openRegistrySession(registryContext(ctx), { lenient: true });
  try {
    const report = await settleFailure(session.client, session.plan, session.known, reason, ctx.log);
    ctx.log.warn(report.summary);
    return report;
  } finally {
    session.client.close();
  }
}
