// The sha256 (and the MD5 when asked) of a file being written out of order, computed on a worker
// thread that reads the file back in order, up to the offset below which every byte is written.
// The parts of a ranged download then go to disk as they arrive instead of waiting in memory for
// the parts before them, and hashing runs beside the network on another core. The bytes read back
// were just written, so they come from the page cache; the worker holds one read buffer.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
let fd;
const sha = createHash('sha256');
let md5 = workerData.md5 ? createHash('md5') : undefined;
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
let pos = 0;
parentPort.on('message', (m) => {
  try {
    if (m.type === 'noMd5') { md5 = undefined; return; }
    fd ??= fs.openSync(workerData.file, 'r');
    const to = m.type === 'end' ? m.size : m.to;
    while (pos < to) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
      if (n === 0) throw new Error('the file ends at ' + pos + ', before ' + to);
      const chunk = buf.subarray(0, n);
      sha.update(chunk);
      if (md5) md5.update(chunk);
      pos += n;
    }
    if (m.type === 'end') {
      fs.closeSync(fd);
      parentPort.postMessage({ type: 'digest', sha256: sha.digest('hex'), md5: md5 ? md5.digest('hex') : undefined });
    } else parentPort.postMessage({ type: 'at', pos });
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err && err.message || err) });
  }
});
`;

const ADVANCE_STEP = 8 * 1024 * 1024;

type FromWorker = { type: 'at'; pos: number } | { type: 'digest'; sha256: string; md5?: string } | { type: 'error'; message: string };

export class FileHasher {
  private readonly worker: Worker;
  private asked = 0;
  private failure: Error | undefined;
  private result: ((r: { sha256: string; md5?: string }) => void) | undefined;
  private reject: ((err: Error) => void) | undefined;
  /** Bytes hashed so far (as last reported by the worker). */
  hashed = 0;

  constructor(file: string, withMd5: boolean) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, md5: withMd5 } });
    const fail = (err: Error) => {
      this.failure ??= err;
      this.reject?.(this.failure);
    };
    this.worker.on('message', (m: FromWorker) => {
      if (m.type === 'at') this.hashed = m.pos;
      else if (m.type === 'digest') this.result?.({ sha256: m.sha256, ...(m.md5 ? { md5: m.md5 } : {}) });
      else fail(new Error(`hashing ${file}: ${m.message}`));
    });
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`hashing worker exited (code ${code})`)));
  }

  /** Every byte below `to` is on disk: the worker may hash up to there. */
  advance(to: number): void {
    // Told in steps of a few MiB: a message per write costs more than it saves.
    if (to < this.asked + ADVANCE_STEP || this.failure) return;
    this.asked = to;
    this.worker.postMessage({ type: 'upto', to });
  }

  dropMd5(): void {
    this.worker.postMessage({ type: 'noMd5' });
  }

  /** The digests of the first `size` bytes of the file (all written by now). */
  digest(size: number): Promise<{ sha256: string; md5?: string }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.result = resolve;
      this.reject = reject;
      this.worker.postMessage({ type: 'end', size });
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
