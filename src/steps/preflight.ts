// Step preflight: the whole configuration and the intent's preconditions, before any byte moves.
import { refuseSigning } from '../config/signing.js';
import { parseImageLocation } from '../oci/reference.js';
import { checkS3Room } from '../sources/s3.js';
import { Registrar } from '../model-registry/registrar.js';
import { idResults, openRegistrySession, terminationMessage } from '../model-registry/session.js';
import { registryContext } from './registry-context.js';
import type { StepContext, StepRunner } from './types.js';

export const runPreflight: StepRunner = async (ctx) => {
  refuseSigning(ctx.settings.signing(ctx.log)); // before any registry call
  checkTransferSettings(ctx);
  await checkRoom(ctx); // before the registry is asked or anything is set to PENDING
  const session = await openRegistrySession(registryContext(ctx));
  try {
    const registrar = new Registrar(session.client, session.plan, session.writer('preflight'), session.known, ctx.log);
    const ids = await registrar.preflight();
    return {
      results: idResults(ids),
      termination: terminationMessage(session.plan.intent, ids),
      summary: { intent: session.plan.intent, metadataKeys: session.plan.metadata.keys.length, ...ids },
    };
  } finally {
    session.client.close();
  }
};

/** An S3 source's listed size against the workspace's free space (other sources: fetch checks). */
async function checkRoom(ctx: StepContext): Promise<void> {
  const source = ctx.settings.source();
  if (source.type !== 's3') return;
  await checkS3Room({ workspace: ctx.workspace, log: ctx.log, network: ctx.settings.network() }, source.s3);
}

/** What the config resolution cannot see: the syntax of the image references. */
function checkTransferSettings(ctx: StepContext): void {
  for (const { reference, setting } of ctx.settings.imageReferences()) parseImageLocation(reference, setting);
}
