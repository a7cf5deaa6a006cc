// Unpacks a zip file into model/ with yauzl's low-level API: yauzl's own name check would turn a
// hostile name into a generic error, so names are decoded raw and checked by safeJoin (refused as
// `unsafe`). Unix symbolic links (mode S_IFLNK) follow the same rules as tar links, and the
// expansion limits are those of every archive (archive-limits.ts); any other failure of an
// entry is an `integrity` error naming it.
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { mkdir } from 'node:fs/promises';
import { ModelSyncError } from '../errors.js';
import { normaliseRelative, UnsafePathError } from '../workspace/safe-path.js';
import { stat } from 'node:fs/promises';
import { entryFailure } from './archive-errors.js';
import { ArchiveLinks } from './archive-links.js';
import type { ExpansionGuard } from './archive-limits.js';
import type { FetchSession } from './session.js';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const MAX_LINK_TARGET = 4096;

export async function extractZip(file: string, session: FetchSession, label: string): Promise<void> {
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false });
  } catch (err) {
    throw new ModelSyncError('integrity', `${label}: not a valid zip archive (${(err as Error).message})`, { cause: err });
  }
  const links = new ArchiveLinks(session);
  const guard = session.expansionGuard();
  let current: string | undefined;
  try {
    guard.addReceived((await stat(file)).size); // the whole zip is on disk before it is unpacked
    for (;;) {
      current = undefined;
      const entry = await nextEntry(zip);
      if (!entry) break;
      current = entryName(entry);
      await unpackEntry(zip, entry, session, links, guard, label);
    }
  } catch (err) {
    throw entryFailure(err, current === undefined ? label : `${label} entry "${current}"`);
  } finally {
    zip.close();
  }
  links.addToInventory();
  session.paths.report(session.entryCount(), label, session.log);
}

function entryName(entry: Entry): string {
  const raw = entry.fileName as unknown as Buffer; // decodeStrings: false
  return yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
}

function nextEntry(zip: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: Entry) => (cleanup(), resolve(e));
    const onEnd = () => (cleanup(), resolve(undefined));
    const onError = (err: Error) => (cleanup(), reject(err));
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

async function unpackEntry(zip: ZipFile, entry: Entry, session: FetchSession, links: ArchiveLinks, guard: ExpansionGuard, label: string): Promise<void> {
  const name = entryName(entry);
  const what = `${label} entry "${name}"`;
  const madeByUnix = entry.versionMadeBy >> 8 === 3;
  const mode = madeByUnix ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;

  if (name.endsWith('/') || mode === S_IFDIR) {
    if (normaliseRelative(name) === '') return;
    await mkdir(await session.target(name, what, 'folder'), { recursive: true });
    return;
  }
  // Left out by the patterns: its bytes are never read nor written.
  if (!session.paths.keeps(name, session.log)) return;
  if (mode === S_IFLNK) {
    await session.target(name, what);
    const stream = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_LINK_TARGET) throw new UnsafePathError(what, 'its link target is too long');
      chunks.push(chunk);
    }
    await links.symlink(name, Buffer.concat(chunks).toString('utf8'), what);
    return;
  }
  if (mode !== 0 && mode !== S_IFREG) throw new UnsafePathError(what, `it is a special file (mode ${mode.toString(8)}), not a regular file`);
  await session.target(name, what); // refuse before reading any bytes
  guard.check(entry.uncompressedSize, what); // what the entry declares; its real bytes are counted too
  // Opened by writeStream right before it listens: yauzl reports a size that lies on this stream.
  await session.writeStream(name, () => zip.openReadStreamPromise(entry), { what, expectedSize: entry.uncompressedSize, guard });
  links.replaced(name);
}
