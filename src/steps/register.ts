// Step register: record the pushed model in Model Registry by upload intent.
import { ConfigError } from '../errors.js';
import { Registrar } from '../model-registry/registrar.js';
import { idResults, openRegistrySession, terminationMessage } from '../model-registry/session.js';
import { pushResultFor } from './inputs.js';
import { registryContext } from './registry-context.js';
import type { StepRunner } from './types.js';

export const runRegister: StepRunner = async (ctx) => {
  const session = await openRegistrySession(registryContext(ctx));
  try {
    const given = ctx.settings.modelUri();
    const uri = given.value ?? (await pushResultFor(ctx.workspace, ctx.settings.destinationTarget()))?.uri;
    if (!uri) {
      throw new ConfigError(
        `no model URI to register: set ${given.setting}, or run push first (it records the URI in ${ctx.workspace.stateDir}/push.json)`,
      );
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
