// Step fetch: copy the model from its source into <storage>/model/ and record the inventory.
import { stat } from 'node:fs/promises';
import { fetchFromOci } from '../sources/oci.js';
import { fetchFromS3 } from '../sources/s3.js';
import { recordSaved, type FetchContext } from '../sources/session.js';
import { fetchFromUri } from '../sources/uri.js';
import type { PathPatterns } from '../util/fnmatch.js';
import { megabytesPerSecond } from '../util/progress.js';
import { readRecord, writeRecord, type Inventory, type InventoryEntry } from '../workspace/records.js';
import { safeJoin } from '../workspace/safe-path.js';
import type { StepContext, StepRunner } from './types.js';

/** What a source needs of the step (fetch, and the streaming all's source). */
export function fetchContext(ctx: StepContext): FetchContext {
  const { settings } = ctx;
  return {
    workspace: ctx.workspace,
    log: ctx.log,
    concurrency: settings.fetchConcurrency(),
    progressIntervalSeconds: settings.progressIntervalSeconds,
    network: settings.network(),
    archiveLimits: settings.archiveLimits(),
    ...optionalPatterns(settings.sourcePatterns()),
    signal: ctx.stop.signal,
  };
}

function optionalPatterns(patterns: PathPatterns | undefined): { patterns?: PathPatterns } {
  return patterns ? { patterns } : {};
}

export const runFetch: StepRunner = async (ctx) => {
  const { settings } = ctx;
  const source = settings.source();
  const fetchCtx = fetchContext(ctx);
  // Stopped, nothing on the source side needs undoing: files reach model/ only whole (temp name,
  // then rename), and fetch.json says which; the account says how far it got.
  const unregister = ctx.stop.onStop({ what: 'the download', run: () => fetchAccount(ctx) });
  const started = Date.now();
  let inventory: Inventory;
  try {
    if (source.type === 's3') inventory = await fetchFromS3(fetchCtx, source.s3, settings.rangedTuning());
    else if (source.type === 'oci') inventory = await fetchFromOci(fetchCtx, source.image);
    else inventory = await fetchFromUri(fetchCtx, source.uri);
  } finally {
    unregister();
  }
  inventory = { ...inventory, files: await withMtimes(ctx, inventory.files), settings: settings.snapshot() };
  await writeRecord(ctx.workspace, 'inventory', inventory);
  const seconds = (Date.now() - started) / 1000;
  return {
    results: { 'model-files': String(inventory.files.length), 'model-bytes': String(inventory.totalBytes) },
    summary: {
      source: inventory.source,
      files: inventory.files.length,
      bytes: inventory.totalBytes,
      MBps: megabytesPerSecond(inventory.totalBytes, seconds),
    },
  };
};

/**
 * Each entry with the mtime its file has now, once fetch is done with it: package takes the
 * recorded sha256 instead of hashing the file again while size and mtime are unchanged.
 */
async function withMtimes(ctx: StepContext, files: InventoryEntry[]): Promise<InventoryEntry[]> {
  return Promise.all(
    files.map(async (f) => {
      const s = await stat(safeJoin(ctx.workspace.modelDir, f.path)).catch(() => undefined);
      return s?.isFile() && s.size === f.size ? { ...f, mtimeMs: s.mtimeMs } : f;
    }),
  );
}

async function fetchAccount(ctx: StepContext): Promise<string> {
  await recordSaved(ctx.workspace); // fetch.json is saved every 250 ms: the stop writes it at once
  const record = await readRecord(ctx.workspace, 'fetch');
  const files = record ? Object.keys(record.files).length : 0;
  return `the download was abandoned; fetch.json records ${files} complete file${files === 1 ? '' : 's'} (a re-run resumes from them and discards the partial one)`;
}
