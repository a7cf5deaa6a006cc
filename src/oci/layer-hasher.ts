// The digests of tar layers, hashed on worker threads beside the reads: each worker takes a layer,
// reads each member file once (the next chunk is read while this one is hashed) and feeds the
// same bytes to the layer hash and, only where no valid digest was recorded, to the file hash.
// Up to `concurrency` layers at once, so a model of several large files keeps every core busy;
// memory stays at two read buffers per worker. The main thread only plans and collects.
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelSyncError } from '../errors.js';
import { layerSegments, type TarLayerGroupInfo, type TarLayerInfo, type TarMember } from './tar-layer.js';

/** One member file of a layer to hash. */
export interface LayerHashMember extends TarMember {
  /** Absolute path of the model file. */
  file: string;
  /** `sha256:<hex>` recorded for this file while it is unchanged: the file is not hashed again. */
  knownSha256?: string;
}

/** What the reads of one layer (or a whole run) cost: the seam the tests count reads through. */
export interface LayerHashCounts {
  /** Member files opened and read. */
  filesRead: number;
  /** Bytes read from model files. */
  bytesRead: number;
  /** File digests computed (the others were recorded). */
  fileDigestsComputed: number;
}

export interface HashedLayer extends TarLayerGroupInfo {
  counts: LayerHashCounts;
}

/** Read size; two buffers of it per worker. */
const READ_CHUNK = 2 * 1024 * 1024;
/** A worker reports progress after about this many bytes. */
const PROGRESS_BYTES = 16 * 1024 * 1024;
/** Most workers: beyond the cores the hashes only take turns. */
const MAX_WORKERS = 4;

/** Layers hashed at once by default: one per core, at most MAX_WORKERS. */
export function defaultHashConcurrency(): number {
  return Math.max(1, Math.min(MAX_WORKERS, availableParallelism()));
}

// CommonJS, evaluated: it runs the same from src/ (tsx) and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { open } = require('node:fs/promises');
const { chunkSize, progressBytes } = workerData;
const buffers = [Buffer.allocUnsafe(chunkSize), Buffer.allocUnsafe(chunkSize)];
class Changed extends Error {
  constructor(file, expected, actual) { super('changed'); this.changed = { file, expected, actual }; }
}
async function hashLayer(job) {
  const layer = createHash('sha256');
  const files = [];
  let unreported = 0;
  const counts = { filesRead: 0, bytesRead: 0, fileDigestsComputed: 0 };
  for (const seg of job.segments) {
    if (seg.bytes) { layer.update(seg.bytes); continue; }
    const fileHash = seg.hashFile ? createHash('sha256') : undefined;
    const handle = await open(seg.file, 'r');
    let next;
    let read = 0;
    try {
      const actual = (await handle.stat()).size;
      if (actual !== seg.size) throw new Changed(seg.file, seg.size, actual);
      counts.filesRead++;
      let i = 0;
      next = handle.read(buffers[i], 0, chunkSize, 0);
      for (;;) {
        const { bytesRead } = await next;
        next = undefined;
        if (bytesRead === 0) break;
        const chunk = buffers[i].subarray(0, bytesRead);
        read += bytesRead;
        if (read > seg.size) throw new Changed(seg.file, seg.size, read);
        i ^= 1;
        next = handle.read(buffers[i], 0, chunkSize, read); // the next chunk comes in while this one is hashed
        layer.update(chunk);
        if (fileHash) fileHash.update(chunk);
        unreported += bytesRead;
        if (unreported >= progressBytes) { parentPort.postMessage({ type: 'progress', bytes: unreported }); unreported = 0; }
      }
      if (read !== seg.size) throw new Changed(seg.file, seg.size, read);
    } finally {
      if (next) await next.catch(() => {});
      await handle.close();
    }
    counts.bytesRead += read;
    if (fileHash) counts.fileDigestsComputed++;
    files[seg.member] = fileHash ? fileHash.digest('hex') : null;
  }
  if (unreported > 0) parentPort.postMessage({ type: 'progress', bytes: unreported });
  return { digest: layer.digest('hex'), files, counts };
}
parentPort.on('message', (job) => {
  hashLayer(job).then(
    (result) => parentPort.postMessage({ type: 'done', ...result }),
    (err) => parentPort.postMessage({ type: 'error', message: String(err && err.message), code: err && err.code, changed: err && err.changed }),
  );
});
`;

type Segment = { bytes: Uint8Array } | { member: number; file: string; size: number; hashFile: boolean };
type WorkerReply =
  | { type: 'progress'; bytes: number }
  | { type: 'done'; digest: string; files: Array<string | null>; counts: LayerHashCounts }
  | { type: 'error'; message: string; code?: string; changed?: { file: string; expected: number; actual: number } };

/**
 * The digest, size and member file digests of each layer (in the order given): file digests are
 * taken from `knownSha256` where set and computed otherwise, every member file is read once.
 * `raw`: each layer is a ModelPack raw layer, its one file alone, so the layer digest is the
 * file's and each file's bytes go through one hash, not two.
 */
export async function hashTarLayers(
  layers: ReadonlyArray<readonly LayerHashMember[]>,
  opts: { concurrency?: number; onBytes?: (n: number) => void; signal?: AbortSignal; raw?: boolean } = {},
): Promise<HashedLayer[]> {
  const results: HashedLayer[] = new Array(layers.length);
  const workers = Math.min(layers.length, Math.max(1, opts.concurrency ?? defaultHashConcurrency()));
  let next = 0;
  let failed = false;
  const pool: Worker[] = [];
  const stop = () => {
    failed = true;
    for (const w of pool) void w.terminate();
  };
  opts.signal?.addEventListener('abort', stop, { once: true });
  const runWorker = async (worker: Worker): Promise<void> => {
    while (!failed && next < layers.length) {
      const index = next++;
      results[index] = await hashOne(worker, layers[index]!, opts.onBytes, opts.raw);
    }
  };
  try {
    const runs: Array<Promise<void>> = [];
    for (let i = 0; i < workers && !opts.signal?.aborted; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { chunkSize: READ_CHUNK, progressBytes: PROGRESS_BYTES } });
      pool.push(worker);
      runs.push(
        runWorker(worker).catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      );
    }
    const settled = await Promise.allSettled(runs);
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (rejected) throw rejected.reason;
    if (opts.signal?.aborted) throw new Error('layer hashing stopped');
    return results;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

function hashOne(worker: Worker, members: readonly LayerHashMember[], onBytes?: (n: number) => void, raw = false): Promise<HashedLayer> {
  const { segments, size } = layerSegments(members, raw);
  const job: Segment[] = segments.map((seg) => {
    if ('bytes' in seg) return { bytes: seg.bytes };
    const m = members[seg.member]!;
    // A raw layer's digest is its file's: the layer hash serves as the file hash.
    return { member: seg.member, file: m.file, size: m.fileSize, hashFile: !raw && !m.knownSha256 };
  });
  return new Promise<HashedLayer>((resolve, reject) => {
    const onExit = (code: number) => done(new Error(`layer hash worker exited (code ${code})`));
    const onError = (err: Error) => done(err);
    const onMessage = (m: WorkerReply) => {
      if (m.type === 'progress') return onBytes?.(m.bytes);
      if (m.type === 'error') return done(workerError(m));
      const files = members.map((member, i) => ({ path: member.path, fileSize: member.fileSize, fileSha256: raw ? `sha256:${m.digest}` : (member.knownSha256 ?? `sha256:${m.files[i]!}`) }));
      done(undefined, { digest: `sha256:${m.digest}`, size, files, counts: m.counts });
    };
    const done = (err: Error | undefined, value?: HashedLayer) => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (err) reject(err);
      else resolve(value!);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.postMessage({ segments: job });
  });
}

function workerError(m: Extract<WorkerReply, { type: 'error' }>): Error {
  if (m.changed) {
    const { file, expected, actual } = m.changed;
    return new ModelSyncError('integrity', `model file ${file} changed while it was read (${actual} bytes read, ${expected} expected): run fetch or package again`);
  }
  return Object.assign(new Error(m.message), m.code ? { code: m.code } : {});
}

/** The counts of several layers added up. */
export function totalCounts(layers: readonly HashedLayer[]): LayerHashCounts {
  const total: LayerHashCounts = { filesRead: 0, bytesRead: 0, fileDigestsComputed: 0 };
  for (const l of layers) {
    total.filesRead += l.counts.filesRead;
    total.bytesRead += l.counts.bytesRead;
    total.fileDigestsComputed += l.counts.fileDigestsComputed;
  }
  return total;
}

/**
 * Digest and size of the layer of `members` (in that order) and the sha256 of each file, in one
 * read of each file and without writing anything.
 */
export async function hashTarLayerGroup(members: ReadonlyArray<{ file: string; path: string; knownSha256?: string }>, onBytes?: (n: number) => void): Promise<HashedLayer> {
  const sized: LayerHashMember[] = [];
  for (const m of members) sized.push({ ...m, fileSize: (await stat(m.file)).size });
  const [layer] = await hashTarLayers([sized], { concurrency: 1, ...(onBytes ? { onBytes } : {}) });
  return layer!;
}

/** Digest and size of the layer of `file` (stored as `models/<relPath>`) and the sha256 of the file. */
export async function hashTarLayer(file: string, relPath: string, onBytes?: (n: number) => void): Promise<TarLayerInfo> {
  const info = await hashTarLayerGroup([{ file, path: relPath }], onBytes);
  return { ...info.files[0]!, digest: info.digest, size: info.size };
}
