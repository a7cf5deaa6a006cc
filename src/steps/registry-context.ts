// The Model Registry part of a step's settings, as the registry session takes it.
import type { RegistrySessionContext } from '../model-registry/session.js';
import type { StepContext } from './types.js';

export function registryContext(ctx: StepContext): RegistrySessionContext {
  return { workspace: ctx.workspace, log: ctx.log, network: ctx.settings.network(), ...ctx.settings.modelRegistry(ctx.log) };
}
