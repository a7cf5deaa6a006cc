// Walks the entries of a tar stream (plain or gzip, detected by node-tar's parser) one at a time:
// the next entry is handed over only when the previous handler has finished, the input is paused
// while the parser is full, and the first failure (a handler's, the parser's or the input's) ends
// the walk and is thrown. Callers decide what an entry becomes; nothing here writes to disk.
// node-tar cuts a name in an extended header at its first NUL byte; such a name is refused here
// (`unsafe`), never shortened into another name.
import { Parser, type ReadEntry } from 'tar';
import { ModelSyncError } from '../errors.js';

/**
 * `label` names the archive in messages (`archive <url>`), `kind` what it should be (a tar
 * archive, a tar layer).
 */
export async function walkTar(
  source: AsyncIterable<Buffer>,
  label: string,
  onEntry: (entry: ReadEntry) => Promise<void>,
  kind = 'tar archive',
): Promise<void> {
  const what = `${label}: not a valid ${kind}`;
  // The callers' expansion guard (sources/archive-limits.ts) counts every header and every byte of
  // entry data against the archive's own limits, so node-tar's fixed gzip ratio is turned off.
  const parser = new Parser({ strict: true, maxDecompressionRatio: Number.POSITIVE_INFINITY });
  let failure: { err: unknown } | undefined;
  // A failed handler may have destroyed its entry, so the parser will not drain again: stop waiting.
  let onFailure!: () => void;
  const failed = new Promise<void>((resolve) => (onFailure = resolve));
  const fail = (err: unknown) => {
    failure ??= { err };
    onFailure();
  };
  let chain = Promise.resolve();
  let current: ReadEntry | undefined;

  // 'meta' comes in order with the entries, before the entry it describes.
  parser.on('meta', (meta: string) => {
    const name = nameWithNul(meta);
    if (name === undefined) return;
    chain = chain.then(() => {
      fail(new ModelSyncError('unsafe', `refusing ${label} entry "${name.replace(/\0/g, '\\0')}": its name in an extended header holds a NUL byte`));
    });
  });
  parser.on('entry', (entry: ReadEntry) => {
    chain = chain
      .then(() => {
        if (failure) return entry.resume();
        current = entry;
        return onEntry(entry);
      })
      .then(
        () => undefined,
        (err: unknown) => {
          fail(err);
          entry.resume(); // let the parser move on; the handler wrote nothing more
        },
      );
  });
  const finished = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', (err: Error) => reject(new ModelSyncError('integrity', `${what} (${err.message})`, { cause: err })));
  });
  finished.catch(() => undefined); // observed below

  // An archive that is only its end (zero blocks first) holds nothing: images carry such empty
  // layers (sha256:5f70bf18..., 1024 zero bytes), and node-tar calls them an unknown format.
  let head: Buffer | undefined = Buffer.alloc(0);
  let empty = false;
  try {
    for await (const input of source) {
      if (failure) break;
      if (empty) continue; // past the end of the archive
      let chunk = input;
      if (head) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 512) continue;
        empty = head.subarray(0, 512).every((b) => b === 0);
        chunk = head;
        head = undefined;
        if (empty) continue;
      }
      if (!parser.write(chunk)) await Promise.race([new Promise((r) => parser.once('drain', r)), finished, failed]);
    }
    if (empty) return;
    if (head?.length) parser.write(head); // shorter than one block: the parser says what is wrong
    if (!failure) {
      parser.end();
      await Promise.race([finished, failed]);
    }
  } catch (err) {
    failure ??= { err };
    // The input ended early: the entry being written will get no more bytes.
    current?.destroy(err instanceof Error ? err : new Error(String(err)));
  }
  await chain;
  if (failure) throw failure.err;
}

/**
 * The path or link path of an extended header (pax records `<len> key=value\n`, or a GNU long
 * name ending in NULs) when it holds a NUL byte before its end; undefined when it does not.
 */
export function nameWithNul(meta: string): string | undefined {
  const bytes = Buffer.from(meta, 'utf8');
  let pos = 0;
  let pax = bytes.length > 0;
  const names: string[] = [];
  while (pax && pos < bytes.length) {
    const space = bytes.indexOf(0x20, pos);
    const length = space > pos ? Number(bytes.subarray(pos, space).toString('latin1')) : NaN;
    if (!Number.isInteger(length) || length <= space - pos || pos + length > bytes.length || bytes[pos + length - 1] !== 0x0a) {
      pax = false;
      break;
    }
    const record = bytes.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    if (eq > 0 && (key === 'path' || key === 'linkpath')) names.push(record.slice(eq + 1));
    pos += length;
  }
  if (!pax) names.splice(0, names.length, meta.replace(/\0+$/, '')); // a GNU long name
  return names.find((n) => n.includes('\0'));
}
