// The destination image opened as a registry target for the transfers that need one (the
// streaming all, the scale-out steps): push access, the step's network settings, and sockets for
// --push-concurrency uploads at once.
import { ModelSyncError } from '../errors.js';
import { endpointAccess, type ImageEndpoint } from '../oci/credentials.js';
import { openTarget } from '../oci/open-target.js';
import { RegistryTarget } from '../oci/target-registry.js';
import type { StepContext } from './types.js';

/** `who` names the caller in the internal error a layout destination would be (callers refuse it first). */
export function openRegistryDestination(ctx: StepContext, image: ImageEndpoint, who: string): RegistryTarget {
  const target = openTarget(image.reference, {
    ...endpointAccess(image),
    log: ctx.log,
    operation: 'push',
    what: image.setting,
    network: ctx.settings.network(),
    maxSockets: Math.max(8, ctx.settings.pushConcurrency() * 2),
    stop: ctx.stop,
  });
  if (!(target instanceof RegistryTarget)) throw new ModelSyncError('internal', `${who} needs a registry destination, not ${target.label}`);
  return target;
}
