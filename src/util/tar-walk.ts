// Walks the entries of a tar stream (plain or gzip, detected by node-tar's parser) one at a time:
// the next entry is handed over only when the previous handler has finished, the input is paused
// while the parser is full, and the first failure (a handler's, the parser's or the input's) ends
// the walk and is thrown. Callers decide what an entry becomes; nothing here writes to disk.
import { Parser, type ReadEntry } from 'tar';
import { ModelSyncError } from '../errors.js';

export async function walkTar(
  source: AsyncIterable<Buffer>,
  what: string,
  onEntry: (entry: ReadEntry) => Promise<void>,
): Promise<void> {
  const parser = new Parser({ strict: true });
  let failure: { err: unknown } | undefined;
  let chain = Promise.resolve();
  let current: ReadEntry | undefined;

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
          failure ??= { err };
          entry.resume(); // let the parser move on; the handler wrote nothing more
        },
      );
  });
  const finished = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', (err: Error) => reject(new ModelSyncError('integrity', `${what} (${err.message})`, { cause: err })));
  });
  finished.catch(() => undefined); // observed below

  try {
    for await (const chunk of source) {
      if (failure) break;
      if (!parser.write(chunk)) await Promise.race([new Promise((r) => parser.once('drain', r)), finished]);
    }
    if (!failure) {
      parser.end();
      await finished;
    }
  } catch (err) {
    failure ??= { err };
    // The input ended early: the entry being written will get no more bytes.
    current?.destroy(err instanceof Error ? err : new Error(String(err)));
  }
  await chain;
  if (failure) throw failure.err;
}
