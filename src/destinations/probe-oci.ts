// Preflight probes of an OCI destination and of the modelcar's base image, before any byte moves:
// the destination registry accepts this job's credentials for a push (an upload session opened
// and cancelled, so no blob is written), or a layout folder can be written; the base image
// resolves with its own credentials and TLS setting, and its size (all platforms, which package
// keeps) tells what package will write into the workspace.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import { endpointAccess, type ImageEndpoint } from '../oci/credentials.js';
import { walkGraph } from '../oci/graph.js';
import { openTarget } from '../oci/open-target.js';
import { parseImageLocation } from '../oci/reference.js';
import { RegistryClient } from '../oci/registry-client.js';

export interface OciProbeContext {
  log: Logger;
  network: NetworkSettings;
}

export async function probeOciDestination(ctx: OciProbeContext, image: ImageEndpoint): Promise<void> {
  const parsed = parseImageLocation(image.reference, image.setting);
  if (parsed.kind === 'layout') {
    await assertWritableFolder(parsed.dir, image.setting);
    return;
  }
  const client = new RegistryClient(parsed.ref, {
    ...endpointAccess(image),
    credentials: image.credentials(), // the client takes the value
    log: ctx.log,
    push: true,
    operation: 'push',
    network: ctx.network,
    maxSockets: 2,
  });
  try {
    const { cancelled } = await client.openAndCancelUpload(parsed.ref.repository);
    ctx.log.debug({ registry: parsed.ref.registry, cancelled }, 'preflight: the destination registry opened an upload session');
  } finally {
    client.close();
  }
}

/** Resolves the base image (index and every platform's manifest) and returns the bytes of its blobs. */
export async function probeBaseImage(ctx: OciProbeContext, image: ImageEndpoint): Promise<number> {
  const target = openTarget(image.reference, {
    what: image.setting,
    ...endpointAccess(image),
    network: ctx.network,
    log: ctx.log,
    operation: 'pull',
  });
  try {
    const root = await target.resolve();
    const graph = await walkGraph(root, (d) => target.fetchManifest(d));
    return graph.blobs.reduce((n, b) => n + b.size, 0) + graph.manifests.reduce((n, m) => n + m.bytes.length, 0);
  } finally {
    target.close();
  }
}

/** A layout folder that exists is writable, or the closest folder above it that exists is. */
async function assertWritableFolder(dir: string, setting: string): Promise<void> {
  let folder = path.resolve(dir);
  for (;;) {
    const found = await access(folder, constants.F_OK).then(
      () => true,
      () => false,
    );
    if (found) break;
    const parent = path.dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  await access(folder, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
    throw new ModelSyncError('config', `${setting}: the layout folder ${dir} cannot be written (${folder}: ${err.code ?? err.message})`);
  });
}
