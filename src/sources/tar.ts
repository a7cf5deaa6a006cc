// Unpacks a tar stream (plain or gzip, detected by node-tar's parser) into model/. We write each
// entry ourselves (temp name, then rename) instead of using node-tar's extractor, so that hostile
// entries are refused with an `unsafe` error instead of being silently skipped or rewritten:
// absolute paths, "..", links whose target leaves the workspace, device files and FIFOs, a name
// that is a file and a folder at once, and an expansion past the archive limits.
import { mkdir } from 'node:fs/promises';
import type { ReadEntry } from 'tar';
import { walkTar } from '../util/tar-walk.js';
import { normaliseRelative, UnsafePathError } from '../workspace/safe-path.js';
import { entryFailure } from './archive-errors.js';
import { ArchiveLinks } from './archive-links.js';
import { TAR_HEADER_BYTES, type ExpansionGuard } from './archive-limits.js';
import type { FetchSession } from './session.js';

/** `size`: the archive's size when the source announced it. */
export async function extractTar(source: AsyncIterable<Buffer>, session: FetchSession, label: string, size?: number): Promise<void> {
  const links = new ArchiveLinks(session);
  const guard = session.expansionGuard(size);
  await walkTar(guard.countReceived(source), label, (entry) =>
    unpackEntry(entry, session, links, guard, label).catch((err: unknown) => {
      throw entryFailure(err, `${label} entry "${entry.path}"`);
    }),
  );
  links.addToInventory();
  session.paths.report(session.entryCount(), label, session.log);
}

async function unpackEntry(entry: ReadEntry, session: FetchSession, links: ArchiveLinks, guard: ExpansionGuard, label: string): Promise<void> {
  const name = entry.path;
  const what = `${label} entry "${name}"`;
  guard.consume(TAR_HEADER_BYTES, what);
  const isFileOrLink = ['File', 'OldFile', 'ContiguousFile', 'SymbolicLink', 'Link'].includes(entry.type);
  if (isFileOrLink && !session.paths.keeps(name, session.log)) {
    // Left out by the patterns: read past, never written.
    await guard.drain(entry as unknown as AsyncIterable<Buffer>, what);
    return;
  }
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      await session.writeStream(name, entry as unknown as AsyncIterable<Buffer>, { what, expectedSize: entry.size ?? 0, guard });
      links.replaced(name);
      return;
    case 'Directory':
    case 'GNUDumpDir': {
      entry.resume();
      if (normaliseRelative(name) === '') return; // "./"
      await mkdir(await session.target(name, what, 'folder'), { recursive: true });
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
      await guard.drain(entry as unknown as AsyncIterable<Buffer>, what);
      session.log.warn({ entry: name, type: entry.type }, 'skipping an archive entry of an unsupported type');
  }
}
