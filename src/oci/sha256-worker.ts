// A sha256 computed on a worker thread, so that a second hash over the same bytes (the file's
// own digest beside the layer digest) runs on another core instead of halving the rate of the
// one JavaScript thread. The caller hands over buffers it no longer needs (they are transferred,
// not copied); at most a few are in flight, so memory stays bounded when the worker is slower.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash = createHash('sha256');
parentPort.on('message', (m) => {
  if (m.type === 'data') {
    hash.update(new Uint8Array(m.buffer, 0, m.length));
    parentPort.postMessage({ type: 'ack' });
  } else if (m.type === 'end') {
    parentPort.postMessage({ type: 'digest', hex: hash.digest('hex') });
    hash = createHash('sha256');
  }
});
`;

const MAX_IN_FLIGHT = 4;

export class WorkerSha256 {
  private readonly worker: Worker;
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  private pendingDigest: ((hex: string) => void) | undefined;
  private failure: Error | undefined;
  private readonly failed: Promise<never>;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    let reject: (err: Error) => void = () => {};
    this.failed = new Promise<never>((_, r) => (reject = r));
    this.failed.catch(() => {}); // observed through update/digest
    this.worker.on('message', (m: { type: 'ack' } | { type: 'digest'; hex: string }) => {
      if (m.type === 'ack') {
        this.inFlight--;
        this.waiting.shift()?.();
      } else {
        this.pendingDigest?.(m.hex);
        this.pendingDigest = undefined;
      }
    });
    const fail = (err: Error) => {
      this.failure = err;
      reject(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`sha256 worker exited (code ${code})`)));
  }

  /**
   * Hashes `chunk`, which must own its whole ArrayBuffer (e.g. Buffer.allocUnsafeSlow) and must
   * not be used afterwards. Resolves when there is room for the next chunk.
   */
  async update(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (chunk.byteOffset !== 0 || chunk.buffer.byteLength < chunk.length) throw new Error('WorkerSha256.update needs a buffer that owns its memory');
    this.inFlight++;
    const ab = chunk.buffer as ArrayBuffer;
    this.worker.postMessage({ type: 'data', buffer: ab, length: chunk.length }, [ab]);
    if (this.inFlight >= MAX_IN_FLIGHT) await Promise.race([new Promise<void>((r) => this.waiting.push(r)), this.failed]);
  }

  /** The hex digest of everything hashed so far; the hash then starts again. */
  async digest(): Promise<string> {
    if (this.failure) throw this.failure;
    const hex = new Promise<string>((r) => (this.pendingDigest = r));
    this.worker.postMessage({ type: 'end' });
    return Promise.race([hex, this.failed]);
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
