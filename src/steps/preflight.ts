// Step preflight: the whole configuration, the whole path (source, destination, base image, room
// on the volume) and the intent's preconditions, before any byte moves.
import { refuseSigning } from '../config/signing.js';
import { parseImageLocation } from '../oci/reference.js';
import { Registrar } from '../model-registry/registrar.js';
import { idResults, openRegistrySession, terminationMessage } from '../model-registry/session.js';
import { checkWholePath } from './preflight-path.js';
import { registryContext } from './registry-context.js';
import type { StepContext, StepRunner } from './types.js';

export const runPreflight: StepRunner = async (ctx) => {
  refuseSigning(ctx.settings.signing(ctx.log)); // before any registry call
  checkTransferSettings(ctx);
  // The connection settings and the metadata folder are parsed here, and no request is sent yet:
  // a config error comes before any probe.
  const session = await openRegistrySession(registryContext(ctx));
  try {
    // Before the registry is asked anything, so that a broken path sets nothing to PENDING.
    // Parts (--parts given: the scale-out templates) stage nothing, as a streaming all does not.
    const path = await checkWholePath(ctx.streaming || !ctx.settings.scaleOut() ? ctx : { ...ctx, streaming: () => true });
    const registrar = new Registrar(session.client, session.plan, session.writer('preflight'), session.known, ctx.log);
    const ids = await registrar.preflight();
    return {
      results: idResults(ids),
      termination: terminationMessage(session.plan.intent, ids),
      summary: { intent: session.plan.intent, metadataKeys: session.plan.metadata.keys.length, source: path.source, neededBytes: path.neededBytes, ...ids },
    };
  } finally {
    session.client.close();
  }
};

/** What the config resolution cannot see: the syntax of the image references. */
function checkTransferSettings(ctx: StepContext): void {
  for (const { reference, setting } of ctx.settings.imageReferences()) parseImageLocation(reference, setting);
}
