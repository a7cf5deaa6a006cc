// Step register: record the pushed model in Model Registry by upload intent.
import { ConfigError } from '../errors.js';
import { Registrar } from '../model-registry/registrar.js';
import { idResults, openRegistrySession, terminationMessage } from '../model-registry/session.js';
import { pushResultFor } from './inputs.js';
import { registryContext } from './registry-context.js';
import { pinnedImageUri } from '../oci/reference.js';
import type { PushRecord } from '../workspace/records.js';
import type { StepContext, StepRunner } from './types.js';

export const runRegister: StepRunner = async (ctx) => {
  const session = await openRegistrySession(registryContext(ctx));
  try {
    const given = ctx.settings.modelUri();
    const pushed = given.value === undefined ? await pushResultFor(ctx.workspace, ctx.settings.destinationTarget()) : undefined;
    const uri = given.value ?? (pushed ? pushedUri(ctx, pushed, given.pinned) : undefined);
    if (!uri) {
      throw new ConfigError(
        `no model URI to register: set ${given.setting}, or run push first (it records the URI in ${ctx.workspace.stateDir}/push.json)`,
      );
    }
    if (pushed?.destination === 'oci' && pushed.ociFormat === 'modelpack') {
      ctx.log.warn({ uri, format: 'modelpack' }, `registering ${uri}, a ModelPack-only artifact: KServe cannot serve it (it runs a modelcar image); push with --destination-oci-format modelcar or both to serve the model`);
    }
    const registrar = new Registrar(session.client, session.plan, session.writer('register'), session.known, ctx.log);
    const ids = await registrar.register(uri);
    return {
      results: { ...idResults(ids), 'model-uri': uri },
      termination: terminationMessage(session.plan.intent, ids),
      summary: { intent: session.plan.intent, uri, ...ids },
    };
  } finally {
    session.client.close();
  }
};

/** The URI push recorded, pinned to the image digest when asked (and when it is a registry image). */
function pushedUri(ctx: StepContext, pushed: PushRecord, pinned: boolean): string {
  if (!pinned || pushed.destination !== 'oci') return pushed.uri;
  const uri = pinnedImageUri(pushed.uri, pushed.digest);
  if (uri) return uri;
  ctx.log.warn({ uri: pushed.uri }, `${pushed.uri} is not in a registry: registered by its own name, not pinned by digest`);
  return pushed.uri;
}
