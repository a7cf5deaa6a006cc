// Fetch source `oci`: an image (modelcar, files under models/) or a ModelPack-style artifact.
import { ModelSyncError } from '../errors.js';
import type { StepContext } from '../steps/types.js';
import type { Inventory } from '../workspace/workspace.js';

export async function fetchFromOci(_ctx: StepContext): Promise<Inventory> {
  throw new ModelSyncError('internal', 'source-type oci is not implemented yet');
}
