// What a step takes from the steps before it, refused when it cannot be trusted: a model that fetch
// did not finish, or a push result made for another destination.
import { ModelSyncError } from '../errors.js';
import { readRecord, recordExists, type PushRecord } from '../workspace/records.js';
import type { Workspace } from '../workspace/workspace.js';

/**
 * package and push read model/: refuse it while fetch.json says the last fetch did not finish
 * (killed, or stopped by a refused archive entry). A model/ filled by other means, without
 * fetch.json, is taken as it is.
 */
export async function assertFetchComplete(workspace: Workspace): Promise<void> {
  const fetched = await readRecord(workspace, 'fetch');
  if (fetched?.complete) return;
  if (fetched) {
    throw new ModelSyncError('precondition', `the last fetch (${fetched.source}) did not finish, so ${workspace.modelDir} may hold part of a model: run fetch again (same --storage-path)`);
  }
  if (await recordExists(workspace, 'fetch')) {
    throw new ModelSyncError('precondition', `${workspace.stateDir}/fetch.json was written by another model-sync version: run fetch again (same --storage-path)`);
  }
}

/**
 * The push result register may use: made for the destination this run names (when it names one,
 * as `all` does). A push that failed left no result (push drops its old one when it starts).
 */
export async function pushResultFor(workspace: Workspace, target: string | undefined): Promise<PushRecord | undefined> {
  const pushed = await readRecord(workspace, 'push');
  if (pushed && target !== undefined && pushed.target !== target) {
    throw new ModelSyncError('precondition', `the push recorded in ${workspace.stateDir}/push.json went to ${pushed.target}, not to ${target}: run push again before register`);
  }
  return pushed;
}
