// Unpacks a tar stream (plain or gzip, detected by node-tar's parser) into model/. We write each
// entry ourselves (temp name, then rename) instead of using node-tar's extractor, so that hostile
// entries are refused with an `unsafe` error instead of being silently skipped or rewritten:
// absolute paths, "..", links whose target leaves the workspace, device files and FIFOs.
import { mkdir } from 'node:fs/promises';
import { Parser, type ReadEntry } from 'tar';
import { ModelSyncError } from '../errors.js';
import { normaliseRelative, UnsafePathError } from '../workspace/safe-path.js';
import { ArchiveLinks } from './archive-links.js';
import type { FetchSession } from './session.js';

export async function extractTar(source: AsyncIterable<Buffer>, session: FetchSession, label: string): Promise<void> {
  const parser = new Parser({ strict: true });
  const links = new ArchiveLinks(session);
  let failure: { err: unknown } | undefined;
  let chain = Promise.resolve();
  let current: ReadEntry | undefined;

  parser.on('entry', (entry: ReadEntry) => {
    chain = chain
      .then(() => {
        if (failure) return entry.resume();
        current = entry;
        return unpackEntry(entry, session, links, label);
      })
      .then(
        () => undefined,
        (err: unknown) => {
          failure ??= { err };
          entry.resume(); // let the parser move on; nothing more is written
        },
      );
  });
  const finished = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', (err: Error) => reject(new ModelSyncError('integrity', `${label}: not a valid tar archive (${err.message})`, { cause: err })));
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
  links.addToInventory();
}

async function unpackEntry(entry: ReadEntry, session: FetchSession, links: ArchiveLinks, label: string): Promise<void> {
  const name = entry.path;
  const what = `${label} entry "${name}"`;
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      await session.writeStream(name, entry as unknown as AsyncIterable<Buffer>, { what, expectedSize: entry.size ?? 0 });
      links.replaced(name);
      return;
    case 'Directory':
    case 'GNUDumpDir': {
      entry.resume();
      if (normaliseRelative(name) === '') return; // "./"
      await mkdir(await session.target(name, what), { recursive: true });
      return;
    }
    case 'SymbolicLink':
      entry.resume();
      await links.symlink(name, entry.linkpath ?? '', what);
      return;
    case 'Link':
      entry.resume();
      await links.hardlink(name, entry.linkpath ?? '', what);
      return;
    case 'CharacterDevice':
    case 'BlockDevice':
    case 'FIFO':
      throw new UnsafePathError(what, `it is a ${entry.type} entry, not a file`);
    default:
      entry.resume();
      session.log.warn({ entry: name, type: entry.type }, 'skipping an archive entry of an unsupported type');
  }
}
