// Blob files of an image layout that no root reaches any more: package is the only writer of
// the workspace's image/, so after it has recorded the new image it removes them.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { walkGraph } from './graph.js';
import type { OciLayout } from './layout.js';
import type { Descriptor } from './types.js';

/**
 * Deletes blob files no longer reachable from the modelcar or its base (an older model's
 * configs, an older base), and temp files of an interrupted run: package is the only writer here.
 */
export async function removeUnreferencedBlobs(layout: OciLayout, roots: Descriptor[]): Promise<number> {
  const keep = new Set<string>();
  for (const root of roots) {
    const graph = await walkGraph(root, (d) => layout.readBlob(d.digest));
    for (const m of graph.manifests) keep.add(m.descriptor.digest);
    for (const b of graph.blobs) keep.add(b.digest);
  }
  let removed = 0;
  for (const name of await readdir(layout.blobsDir)) {
    if (keep.has(`sha256:${name}`)) continue;
    await rm(path.join(layout.blobsDir, name), { force: true });
    removed++;
  }
  return removed;
}
