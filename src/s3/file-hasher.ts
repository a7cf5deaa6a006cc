// The sha256 (and the MD5 when asked) of a file being written out of order, computed on a worker
// thread that reads the file back in order, up to the offset below which every byte is written.
// The parts of a ranged download then go to disk as they arrive instead of waiting in memory for
// the parts before them, and hashing runs beside the network on another core. The bytes read back
// were just written, so they come from the page cache. Files hashed at the same time share a few
// workers (one per core, at most 4): one worker hashing sha256 + MD5 for every file (about 2 CPU-s
// per GiB here) was the step that held a 4-shard fetch back while the other core idled. Each
// worker holds one read buffer; a worker ends when it hashes no file.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const jobs = new Map();
// 128 KiB: each read stays in the core's cache for both hashes (4 MiB reads went to memory twice).
const buf = Buffer.allocUnsafe(128 * 1024);
parentPort.on('message', (m) => {
  const job = jobs.get(m.id);
  try {
    if (m.type === 'start') {
      jobs.set(m.id, { file: m.file, fd: undefined, pos: 0, sha: createHash('sha256'), md5: m.md5 ? createHash('md5') : undefined });
      return;
    }
    if (!job) return;
    if (m.type === 'noMd5') { job.md5 = undefined; return; }
    if (m.type === 'drop') { if (job.fd !== undefined) fs.closeSync(job.fd); jobs.delete(m.id); return; }
    if (job.fd === undefined) job.fd = fs.openSync(job.file, 'r');
    const to = m.type === 'end' ? m.size : m.to;
    while (job.pos < to) {
      const n = fs.readSync(job.fd, buf, 0, Math.min(buf.length, to - job.pos), job.pos);
      if (n === 0) throw new Error('the file ends at ' + job.pos + ', before ' + to);
      const chunk = buf.subarray(0, n);
      job.sha.update(chunk);
      if (job.md5) job.md5.update(chunk);
      job.pos += n;
    }
    if (m.type === 'end') {
      fs.closeSync(job.fd);
      jobs.delete(m.id);
      parentPort.postMessage({ id: m.id, type: 'digest', sha256: job.sha.digest('hex'), md5: job.md5 ? job.md5.digest('hex') : undefined });
    }
  } catch (err) {
    if (job && job.fd !== undefined) try { fs.closeSync(job.fd); } catch {}
    jobs.delete(m.id);
    parentPort.postMessage({ id: m.id, type: 'error', message: String((err && err.message) || err) });
  }
});
`;

/** How far the written prefix must grow before the worker is told (a message per write costs more than it saves). */
const ADVANCE_STEP = 8 * 1024 * 1024;

type FromWorker = { id: number; type: 'digest'; sha256: string; md5?: string } | { id: number; type: 'error'; message: string };

interface Job {
  settle(m: FromWorker | Error): void;
}

/** Workers at most: beyond the cores they only take turns (and each holds a read buffer). */
const MAX_WORKERS = Math.max(1, Math.min(4, availableParallelism()));

interface PoolWorker {
  worker: Worker;
  /** Files this worker hashes now. */
  jobs: Map<number, Job>;
}

/** The workers and the files each hashes now; a file stays on the worker it started on. */
const pool: { workers: PoolWorker[]; next: number } = { workers: [], next: 1 };

/** The least busy worker, a new one while there are fewer than MAX_WORKERS and all are busy. */
function pick(): PoolWorker {
  const idle = pool.workers.find((w) => w.jobs.size === 0);
  if (idle) return idle;
  if (pool.workers.length < MAX_WORKERS) return spawn();
  return pool.workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
}

function spawn(): PoolWorker {
  const w: PoolWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), jobs: new Map() };
  const failAll = (err: Error) => {
    pool.workers = pool.workers.filter((x) => x !== w);
    for (const job of w.jobs.values()) job.settle(err);
  };
  w.worker.on('message', (m: FromWorker) => w.jobs.get(m.id)?.settle(m));
  w.worker.on('error', failAll);
  w.worker.on('exit', (code) => failAll(new Error(`hashing worker exited (code ${code})`)));
  pool.workers.push(w);
  return w;
}

function release(w: PoolWorker, id: number): void {
  w.jobs.delete(id);
  if (w.jobs.size === 0 && pool.workers.includes(w)) {
    pool.workers = pool.workers.filter((x) => x !== w);
    w.worker.removeAllListeners('exit');
    void w.worker.terminate();
  }
}

export class FileHasher {
  private readonly id = pool.next++;
  private readonly slot = pick();
  private readonly worker = this.slot.worker;
  private asked = 0;
  private failure: Error | undefined;
  private result: ((r: { sha256: string; md5?: string }) => void) | undefined;
  private reject: ((err: Error) => void) | undefined;
  private closed = false;

  constructor(private readonly file: string, withMd5: boolean) {
    this.slot.jobs.set(this.id, {
      settle: (m) => {
        if (m instanceof Error) this.fail(m);
        else if (m.type === 'error') this.fail(new Error(`hashing ${this.file}: ${m.message}`));
        else this.result?.({ sha256: m.sha256, ...(m.md5 ? { md5: m.md5 } : {}) });
      },
    });
    this.worker.postMessage({ id: this.id, type: 'start', file, md5: withMd5 });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.reject?.(this.failure);
  }

  /** Every byte below `to` is on disk: the worker may hash up to there. */
  advance(to: number): void {
    if (to < this.asked + ADVANCE_STEP || this.failure) return;
    this.asked = to;
    this.worker.postMessage({ id: this.id, type: 'upto', to });
  }

  dropMd5(): void {
    this.worker.postMessage({ id: this.id, type: 'noMd5' });
  }

  /** The digests of the first `size` bytes of the file (all written by now). */
  digest(size: number): Promise<{ sha256: string; md5?: string }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.result = resolve;
      this.reject = reject;
      this.worker.postMessage({ id: this.id, type: 'end', size });
    });
  }

  /** Ends this file's job (after digest, or when the download failed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (pool.workers.includes(this.slot)) this.worker.postMessage({ id: this.id, type: 'drop' });
    release(this.slot, this.id);
  }
}
