// A pass-through that hashes (sha256) and counts the bytes flowing through it, so that data is
// hashed while it is written instead of being read a second time.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class Sha256Meter extends Transform {
  private readonly hash = createHash('sha256');
  private hex: string | undefined;
  bytes = 0;

  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }

  /** Hex digest of everything that flowed through; call once the stream has ended. */
  digestHex(): string {
    this.hex ??= this.hash.digest('hex');
    return this.hex;
  }
}
