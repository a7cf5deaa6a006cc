// The sha256 (and the MD5 when asked) of a file being written out of order, computed on a worker
// thread that reads the file back in order, up to the offset below which every byte is written.
// The parts of a ranged download then go to disk as they arrive instead of waiting in memory for
// the parts before them, and hashing runs beside the network on another core. The bytes read back
// were just written, so they come from the page cache. One worker serves every file hashed at
// the same time (a thread hashes far faster than the network delivers), so memory does not grow
// with the number of files; it holds one read buffer and ends when no file is being hashed.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const jobs = new Map();
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
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

/** The one worker and the files it hashes now. */
const shared: { worker: Worker | undefined; jobs: Map<number, Job>; next: number } = { worker: undefined, jobs: new Map(), next: 1 };

function worker(): Worker {
  if (shared.worker) return shared.worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  const failAll = (err: Error) => {
    if (shared.worker === w) shared.worker = undefined;
    for (const job of shared.jobs.values()) job.settle(err);
  };
  w.on('message', (m: FromWorker) => shared.jobs.get(m.id)?.settle(m));
  w.on('error', failAll);
  w.on('exit', (code) => failAll(new Error(`hashing worker exited (code ${code})`)));
  shared.worker = w;
  return w;
}

function release(id: number): void {
  shared.jobs.delete(id);
  if (shared.jobs.size === 0 && shared.worker) {
    const w = shared.worker;
    shared.worker = undefined;
    w.removeAllListeners('exit');
    void w.terminate();
  }
}

export class FileHasher {
  private readonly id = shared.next++;
  private readonly worker = worker();
  private asked = 0;
  private failure: Error | undefined;
  private result: ((r: { sha256: string; md5?: string }) => void) | undefined;
  private reject: ((err: Error) => void) | undefined;
  private closed = false;

  constructor(private readonly file: string, withMd5: boolean) {
    shared.jobs.set(this.id, {
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
    if (shared.worker === this.worker) this.worker.postMessage({ id: this.id, type: 'drop' });
    release(this.id);
  }
}
