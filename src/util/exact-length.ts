// A pass-through that holds a body to the length it was announced with: it fails as soon as more
// bytes come, or at the end when fewer came, so that nothing downstream (a layer digest, an S3
// upload) completes over a body that changed or was cut. Errors of the input reach the reader, and
// a reader that stops early ends the input.
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';

/** The errors the caller names the body by. */
export interface LengthMismatch {
  more(): Error;
  fewer(got: number): Error;
}

export function exactLength(input: Readable, expected: number, mismatch: LengthMismatch): Readable {
  let count = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      count += chunk.length;
      if (count > expected) done(mismatch.more());
      else done(null, chunk);
    },
    flush(done: TransformCallback) {
      done(count === expected ? null : mismatch.fewer(count));
    },
  });
  pipeline(input, counter, () => undefined);
  return counter;
}
