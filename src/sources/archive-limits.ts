// How far an archive may expand, the same rule for every kind (tar, tar.gz, zip, image and
// artifact layers): the unpacked bytes may not exceed `maxRatio` times the archive bytes received
// so far (a zip is downloaded whole before it is unpacked), nor `maxBytes` in all. Unpacked bytes
// are the data of every entry, written or skipped, and 512 bytes per tar header (so that a
// stream of empty entries counts too). Past either limit the fetch stops with an `unsafe` error
// naming the entry.
import { Transform, type TransformCallback } from 'node:stream';
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

  constructor(private readonly limits: ArchiveLimits) {}

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
    if (total > this.limits.maxRatio * this.received) {
      throw new UnsafePathError(what, `the archive unpacks to more than ${this.limits.maxRatio} times the ${this.received} bytes received of it (${this.limits.ratioSetting})`);
    }
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
