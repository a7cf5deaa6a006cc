// One model layer streamed from its source files straight into a registry, with no copy on the
// volume: the layer bytes (tar-layer.ts: per member header + file + padding, then the end blocks)
// are made on the fly, the layer digest and each file's sha256 computed on the way, and the
// digest, known only at the end, closes the upload (PUT ?digest=). The bytes are exactly those
// package makes for the same (path, size) members, so the digest is the same too.
//
// Chunked registries: POST, PATCH chunks, PUT. Retry and resume are one path (RegistryClient's
// uploadInChunks): each attempt makes the layer from byte 0 again, hashing but not sending the
// bytes the registry already holds, so re-reading the prefix is the price and no byte the registry
// holds is sent twice. Registries that take monolithic uploads only (ghcr, gcr, pkg.dev, ECR):
// one read to hash, nothing sent, then one streamed PUT with the digest (a second read).
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StreamFile } from '../util/stream-file.js';
import type { ChunkReader } from './registry-client.js';
import { tarLayerSegments, type TarLayerFileInfo, type TarSegment } from './tar-layer.js';
import type { RegistryTarget } from './target-registry.js';
import type { UploadSessions } from './upload-sessions.js';

/**
 * 64 MiB: memory does not depend on it (chunks are streamed), but it is what a registry that
 * drops a broken-off PATCH makes us send again, and each chunk boundary costs one round trip and
 * one record write (about 1% at 64 MiB on a local registry, less on a remote one).
 */
export const DEFAULT_STREAM_CHUNK_SIZE = 64 * 1024 * 1024;

export interface StreamLayerOptions {
  /** Destination repository. */
  target: RegistryTarget;
  /** PATCH chunk bytes (default DEFAULT_STREAM_CHUNK_SIZE). */
  chunkSize?: number;
  /** Bytes sent; negative to take back a failed attempt's bytes. */
  onBytes?: (n: number) => void;
  /** Resume across runs: the session is recorded after each chunk under `sessionKey`. */
  sessions?: UploadSessions;
  /** Stable key of this layer's content identity (the caller builds it). */
  sessionKey?: string;
  signal?: AbortSignal;
  log: Logger;
}

export interface StreamedLayer {
  digest: string;
  size: number;
  /** `fileSha256` is `sha256:<hex>`; in layer order. */
  files: TarLayerFileInfo[];
  /** Bytes this call uploaded (not what the registry already held). */
  bytesSent: number;
  /** Offset the upload continued from (0 = fresh session). */
  resumedAt: number;
  mode: 'chunked' | 'hash-then-put';
}

export async function streamLayerToRegistry(members: readonly StreamFile[], opts: StreamLayerOptions): Promise<StreamedLayer> {
  const { target } = opts;
  const { segments, size } = tarLayerSegments(members.map((m) => ({ path: m.path, fileSize: m.size })));
  const what = members.length === 1 ? `the layer of ${members[0]!.path}` : `the layer of ${members.length} files (${members[0]!.path} ...)`;
  let bytesSent = 0;
  const onBytes = (n: number) => {
    bytesSent += n;
    opts.onBytes?.(n);
  };

  if (target.monolithicOnly) {
    opts.log.info({ registry: target.registry, layer: what, size }, `registry ${target.registry} takes monolithic uploads only: ${what} is read twice, once to hash it and once to upload it in one PUT`);
    const first = new LayerPass(members, segments, opts.signal);
    try {
      await first.skip(size);
    } finally {
      first.close();
    }
    const { digest, files } = await first.finish();
    let files2: string[] | undefined;
    await target.putBlob(digest, size, () => {
      const pass = new LayerPass(members, segments, opts.signal);
      return pass.stream(size, (sums) => (files2 = sums));
    }, onBytes);
    if (files2 && files2.join() !== files.join()) throw new ModelSyncError('integrity', `${what}: the source files changed between the two reads`);
    return { digest, size, files: fileInfos(members, files), bytesSent, resumedAt: 0, mode: 'hash-then-put' };
  }

  let fileSums: string[] = [];
  const session = opts.sessions && opts.sessionKey ? opts.sessions.record(opts.sessionKey, { registry: target.registry, repository: target.repository, size }) : undefined;
  const result = await target.uploadInChunks(
    {
      size,
      what,
      begin: async (offset): Promise<ChunkReader> => {
        const pass = new LayerPass(members, segments, opts.signal);
        try {
          await pass.skip(offset); // hashed, not sent: the registry holds these bytes
        } catch (err) {
          pass.close();
          throw err;
        }
        let taken = false;
        return {
          chunk: (start, length) => {
            // A chunk's bytes come once from the pass: a second ask (a request sent again inside
            // the client) ends the attempt, which the next one resumes from the registry's offset.
            if (taken && start < pass.position) return Readable.from(failing(new ModelSyncError('transient', `${what}: chunk ${start}- asked for again; resuming from the registry's offset`)));
            taken = true;
            return pass.stream(length);
          },
          digest: async () => {
            const done = await pass.finish();
            fileSums = done.files;
            return done.digest;
          },
          close: () => pass.close(),
        };
      },
    },
    { chunkSize: opts.chunkSize ?? DEFAULT_STREAM_CHUNK_SIZE, onBytes, session },
  );
  if (result.resumedAt > 0) opts.log.info({ registry: target.registry, layer: what, resumedAt: result.resumedAt, size }, `${what}: continued the upload session at byte ${result.resumedAt} of ${size}`);
  return { digest: result.digest, size, files: fileInfos(members, fileSums), bytesSent: result.bytesSent, resumedAt: result.resumedAt, mode: 'chunked' };
}

function fileInfos(members: readonly StreamFile[], sums: string[]): TarLayerFileInfo[] {
  return members.map((m, i) => ({ path: m.path, fileSize: m.size, fileSha256: sums[i]! }));
}

async function* failing(err: Error): AsyncGenerator<Buffer> {
  yield* [];
  throw err;
}

/**
 * One pass over the layer's bytes from byte 0: framing from memory, each member from its
 * StreamFile, everything hashed as it is taken. A member that yields more or fewer bytes than
 * its size fails the pass as an integrity error. Holds one source chunk at a time.
 */
class LayerPass {
  private readonly layerHash: Hash = createHash('sha256');
  private readonly fileSums: string[] = [];
  private readonly source: AsyncGenerator<Buffer>;
  private current: Readable | undefined;
  private leftover: Buffer | undefined;
  /** Bytes taken so far. */
  position = 0;

  constructor(
    private readonly members: readonly StreamFile[],
    private readonly segments: readonly TarSegment[],
    private readonly signal: AbortSignal | undefined,
  ) {
    this.source = this.bytes();
  }

  private async *bytes(): AsyncGenerator<Buffer> {
    for (const seg of this.segments) {
      if ('bytes' in seg) {
        yield seg.bytes;
        continue;
      }
      const member = this.members[seg.member]!;
      const hash = createHash('sha256');
      let n = 0;
      const stream = await member.open(0, this.signal);
      this.current = stream;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          n += chunk.length;
          if (n > member.size) throw wrongSize(member, `more than ${member.size}`);
          hash.update(chunk);
          yield chunk;
        }
      } finally {
        this.current = undefined;
        stream.destroy();
      }
      if (n !== member.size) throw wrongSize(member, String(n));
      this.fileSums.push('sha256:' + hash.digest('hex'));
    }
  }

  /** The next bytes, at most `max`, hashed into the layer digest; undefined at the end. */
  private async read(max: number): Promise<Buffer | undefined> {
    let buf = this.leftover;
    this.leftover = undefined;
    if (!buf) {
      const r = await this.source.next();
      if (r.done) return undefined;
      buf = r.value;
    }
    if (buf.length > max) {
      this.leftover = buf.subarray(max);
      buf = buf.subarray(0, max);
    }
    this.layerHash.update(buf);
    this.position += buf.length;
    return buf;
  }

  /** Reads (and hashes) `n` bytes without handing them on. */
  async skip(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const buf = await this.read(left);
      if (!buf) throw new ModelSyncError('internal', `layer pass ended ${left} bytes early`);
      left -= buf.length;
    }
  }

  /** The next `length` bytes as a stream with backpressure; `ended` gets the file digests when the pass is done. */
  stream(length: number, ended?: (fileSums: string[]) => void): Readable {
    const pass = this;
    return Readable.from(
      (async function* () {
        for (let left = length; left > 0; ) {
          const buf = await pass.read(left);
          if (!buf) throw new ModelSyncError('internal', `layer pass ended ${left} bytes early`);
          left -= buf.length;
          yield buf;
        }
        if (ended) ended((await pass.finish()).files);
      })(),
      { objectMode: false },
    );
  }

  /** After every byte was taken: the layer digest and the members' sha256 (runs the last size check). */
  async finish(): Promise<{ digest: string; files: string[] }> {
    const rest = await this.read(1);
    if (rest) throw new ModelSyncError('internal', 'layer pass finished before its end');
    return { digest: 'sha256:' + this.layerHash.digest('hex'), files: this.fileSums };
  }

  close(): void {
    this.current?.destroy();
    void this.source.return(undefined).catch(() => undefined);
  }
}

function wrongSize(member: StreamFile, got: string): ModelSyncError {
  return new ModelSyncError('integrity', `model file ${member.path} gave ${got} bytes, but its source listed ${member.size}: it changed while it was read; run again`);
}
