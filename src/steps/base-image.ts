// The base image of the modelcar, pulled (all platforms) into the workspace's image layout: what
// package and the streaming `all` both start from. A failure names the base image setting.
import { ModelSyncError } from '../errors.js';
import { endpointAccess } from '../oci/credentials.js';
import { OciLayout } from '../oci/layout.js';
import { pullToLayout } from '../oci/transfer.js';
import type { Descriptor } from '../oci/types.js';
import type { ImageEndpoint } from '../oci/credentials.js';
import type { StepContext } from './types.js';

/** `endpoint` defaults to the base image setting; assemble passes the one plan pinned. */
export async function pullBaseImage(ctx: StepContext, endpoint: ImageEndpoint = ctx.settings.baseImage()): Promise<{ layout: OciLayout; base: Descriptor; reference: string }> {
  const { settings, workspace, log } = ctx;
  const layout = await new OciLayout(workspace.imageDir).init();
  try {
    const base = await pullToLayout({
      reference: endpoint.reference,
      layout,
      ...endpointAccess(endpoint),
      network: settings.network(),
      log,
      progressIntervalSeconds: settings.progressIntervalSeconds,
    });
    return { layout, base, reference: endpoint.reference };
  } catch (err) {
    if (err instanceof ModelSyncError) {
      throw new ModelSyncError(err.kind, `cannot pull the base image ${endpoint.reference} (${endpoint.setting}): ${err.message}`, { cause: err });
    }
    throw err;
  }
}
