// A model file read as a stream straight from its source, with no copy on the workspace volume:
// the streaming `all` hands these from a source (sources/stream-source.ts) to a destination (a
// registry layer upload in oci/, an S3 upload in destinations/). A type of the base layer, so
// that both sides may use it without importing each other.
import type { Readable } from 'node:stream';

export interface StreamFile {
  /** Slash-separated path relative to the model root (as fetch would write it under model/). */
  readonly path: string;
  /** Size in bytes, known before the first byte is read (from the source's listing). */
  readonly size: number;
  /**
   * Its bytes from `start` (0 <= start <= size) to the end. The stream fails with an integrity
   * error when the source sends more or fewer bytes than `size - start`; a transient fault in the
   * middle of the body is retried inside, resuming at the byte reached. Each call reads again.
   */
  open(start: number, signal?: AbortSignal): Promise<Readable>;
}
