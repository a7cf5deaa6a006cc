// How far an archive may expand, the same rule for every kind (tar, tar.gz, zip, image and
// artifact layers): the unpacked bytes may not exceed `maxRatio` times the archive's size (as
// announced, else the bytes received so far; a zip is on disk whole before it is unpacked), nor
// `maxBytes` in all. Unpacked bytes are the data of every entry, written or skipped, and 512 bytes
// per tar header (so that a stream of empty entries counts too). Past either limit the fetch stops
// with an `unsafe` error naming the entry.
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UnsafePathError } from '../workspace/safe-path.js';

/** Set by config/ from --archive-max-ratio and --archive-max-bytes. */
export interface ArchiveLimits {
  maxRatio: number;
  maxBytes: number;
  /** The flag and env var of each limit, for messages. */
  ratioSetting: string;
  bytesSetting: string;
}

/** What a tar header costs. */
export const TAR_HEADER_BYTES = 512;

export class ExpansionGuard {
  private received = 0;
  private unpacked = 0;

  /** `announced`: the archive's size when the source tells it before sending it (Content-Length). */
  constructor(
    private readonly limits: ArchiveLimits,
    private readonly announced = 0,
  ) {}

  /** Archive bytes received (compressed, as downloaded). */
  addReceived(n: number): void {
    this.received += n;
  }

  /** Wraps an archive's byte stream so that its bytes count as received. */
  async *countReceived(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.received += chunk.length;
      yield chunk;
    }
  }

  /** Counts `n` more unpacked bytes of the entry `what`, refusing them past a limit. */
  consume(n: number, what: string): void {
    this.check(n, what);
    this.unpacked += n;
  }

  /** Refuses `n` more unpacked bytes of the entry `what` when they would pass a limit. */
  check(n: number, what: string): void {
    const total = this.unpacked + n;
    if (total > this.limits.maxBytes) {
      throw new UnsafePathError(what, `the archive unpacks to more than ${this.limits.maxBytes} bytes (${this.limits.bytesSetting})`);
    }
    const size = Math.max(this.received, this.announced);
    if (total > this.limits.maxRatio * size) {
      throw new UnsafePathError(what, `the archive unpacks to more than ${this.limits.maxRatio} times its ${size} bytes (${this.limits.ratioSetting})`);
    }
  }

  /** Drains an entry that is not written, counting its bytes as they flow (unpacked all the same). */
  async drain(source: AsyncIterable<Buffer>, what: string): Promise<void> {
    await pipeline(source, this.counter(what), new Writable({ write: (_chunk, _encoding, done) => done() }));
  }

  /** A pass-through that counts the unpacked bytes of the entry `what`, failing past a limit. */
  counter(what: string): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) => {
        try {
          this.consume(chunk.length, what);
        } catch (err) {
          done(err as Error);
          return;
        }
        done(null, chunk);
      },
    });
  }
}
