// Step preflight: the whole configuration and the intent's preconditions, before any byte moves.
import { parseImageLocation } from '../oci/reference.js';
import { Registrar } from '../model-registry/registrar.js';
import { idResults, openRegistrySession, terminationMessage } from '../model-registry/session.js';
import type { StepContext, StepRunner } from './types.js';

export const runPreflight: StepRunner = async (ctx) => {
  checkTransferSettings(ctx);
  const session = await openRegistrySession(ctx);
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

/** What the config resolution cannot see: the syntax of the image references. */
function checkTransferSettings(ctx: StepContext): void {
  const { config } = ctx;
  if (config.has('destination-type') && config.string('destination-type') === 'oci') {
    const uri = config.string('destination-oci-uri');
    if (uri) parseImageLocation(uri, config.describe('destination-oci-uri'));
    const base = config.has('destination-oci-base-image') ? config.string('destination-oci-base-image') : undefined;
    if (base) parseImageLocation(base, config.describe('destination-oci-base-image'));
  }
  if (config.has('source-type') && config.string('source-type') === 'oci') {
    const uri = config.string('source-oci-uri');
    if (uri) parseImageLocation(uri, config.describe('source-oci-uri'));
  }
}
