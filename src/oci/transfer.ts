// Copies images between a registry (or a local `oci:<dir>[:tag]` layout) and an OCI image layout.
// Owned by the OCI client work; the signatures are what package and push rely on.
import { ModelSyncError } from '../errors.js';
import type { RegistryCredentials } from '../config/dockerconfig.js';
import type { Logger } from '../log.js';
import type { OciLayout } from './layout.js';
import type { Descriptor } from './types.js';

export interface PullOptions {
  /** `registry/repo[:tag][@digest]`, or `oci:<dir>[:tag]` for a local image layout. */
  reference: string;
  layout: OciLayout;
  credentials?: RegistryCredentials;
  tlsVerify: boolean;
  log: Logger;
  progressIntervalSeconds?: number;
}

/**
 * Copies the whole image (index, every platform manifest, configs and layers) into `layout`,
 * skipping blobs already there. Media types are left as the source has them. Returns the root
 * descriptor (an index or a manifest) as stored in the layout. Does not touch index.json.
 */
export async function pullToLayout(_opts: PullOptions): Promise<Descriptor> {
  throw new ModelSyncError('internal', 'pullToLayout is not implemented yet');
}

export interface PushOptions {
  layout: OciLayout;
  /** The root to push (an index or a manifest present in the layout). */
  root: Descriptor;
  /** `registry/repo:tag`, or `oci:<dir>[:tag]` for a local image layout. */
  reference: string;
  credentials?: RegistryCredentials;
  tlsVerify: boolean;
  concurrency: number;
  log: Logger;
  progressIntervalSeconds?: number;
}

export interface PushResult {
  /** `oci://registry/repo:tag` */
  uri: string;
  digest: string;
  blobsUploaded: number;
  blobsSkipped: number;
  bytesUploaded: number;
}

/** HEAD-then-upload of every blob, manifests after their blobs, the root last under the tag. */
export async function pushLayout(_opts: PushOptions): Promise<PushResult> {
  throw new ModelSyncError('internal', 'pushLayout is not implemented yet');
}
