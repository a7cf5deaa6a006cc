// Step fetch: copy the model from its source into <storage>/model/ and record the inventory.
import { fetchFromOci } from '../sources/oci.js';
import { fetchFromS3 } from '../sources/s3.js';
import { fetchFromUri } from '../sources/uri.js';
import { writeRecord, type Inventory } from '../workspace/records.js';
import type { StepRunner } from './types.js';

export const runFetch: StepRunner = async (ctx) => {
  const type = ctx.config.required('source-type');
  const started = Date.now();
  let inventory: Inventory;
  if (type === 's3') inventory = await fetchFromS3(ctx);
  else if (type === 'oci') inventory = await fetchFromOci(ctx);
  else inventory = await fetchFromUri(ctx);
  await writeRecord(ctx.workspace, 'inventory', inventory);
  const seconds = (Date.now() - started) / 1000;
  return {
    results: { 'model-files': String(inventory.files.length), 'model-bytes': String(inventory.totalBytes) },
    summary: {
      source: inventory.source,
      files: inventory.files.length,
      bytes: inventory.totalBytes,
      MBps: seconds > 0 ? Math.round((inventory.totalBytes / 1e6 / seconds) * 10) / 10 : undefined,
    },
  };
};
