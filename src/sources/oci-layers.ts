// Extracts the model files of one image or artifact layer into temp files of a fetch session.
// Nothing reaches model/ until the whole layer has been received and its digest verified; then
// commitLayer() renames the files into place (layers commit in manifest order, so a later layer
// wins, as in a container's root filesystem).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { entryFailure } from './archive-errors.js';
import type { ArchiveLinks } from './archive-links.js';
import { TAR_HEADER_BYTES, type ExpansionGuard } from './archive-limits.js';
import type { FetchSession } from './session.js';
import { normaliseRelative, UnsafePathError } from '../workspace/safe-path.js';
import { walkTar } from '../util/tar-walk.js';

export interface PendingFile {
  rel: string;
  temp: string;
  size: number;
  sha256: string;
}

export interface PendingLink {
  kind: 'symlink' | 'hardlink';
  rel: string;
  target: string;
  what: string;
}

export interface PendingLayer {
  files: PendingFile[];
  links: PendingLink[];
}

/** Maps a tar entry name to a path under model/, or undefined to leave the entry out. */
export type NameMapper = (name: string) => string | undefined;

/** Modelcar layers: only entries under models/ (with or without a leading / or ./), prefix stripped. */
export const modelcarNames: NameMapper = (name) => {
  const n = name.replace(/\\/g, '/').replace(/^(?:\.\/|\/)+/, '');
  if (!n.startsWith('models/')) return undefined;
  const rest = n.slice('models/'.length);
  return rest.replace(/\/+$/, '') === '' ? undefined : rest;
};

/** Artifact tar layers: every entry, as named. */
export const artifactNames: NameMapper = (name) => (normaliseRelative(name) === '' ? undefined : name);

async function writeTemp(
  session: FetchSession,
  rel: string,
  source: Readable | AsyncIterable<Buffer>,
  what: string,
  progress?: (n: number) => void,
  guard?: ExpansionGuard,
): Promise<PendingFile> {
  const { temp, entry } = await session.receive(rel, source, { what, ...(progress ? { progress } : {}), ...(guard ? { guard } : {}) });
  return { rel: entry.path, temp, size: entry.size, sha256: entry.sha256 };
}

export async function discardLayer(pending: PendingLayer): Promise<void> {
  await Promise.all(pending.files.map((f) => rm(f.temp, { force: true })));
}

/** A `.raw` artifact layer: the whole (verified) blob is one file. */
export async function extractRawLayer(session: FetchSession, blob: Readable, rel: string, what: string, progress?: (n: number) => void): Promise<PendingLayer> {
  await session.target(rel, what); // refuse unsafe names before writing anything
  return { files: [await writeTemp(session, rel, blob, what, progress)], links: [] };
}

/**
 * A tar layer (plain or gzip, detected by node-tar). `blob` must fail at its end when the
 * layer's digest is wrong (see digestVerifier); on any failure the temp files are removed.
 */
export async function extractTarLayer(session: FetchSession, blob: Readable, mapName: NameMapper, label: string, progress?: (n: number) => void): Promise<PendingLayer> {
  const pending: PendingLayer = { files: [], links: [] };
  const guard = session.expansionGuard();
  const handle = async (entry: ReadEntry): Promise<void> => {
    // A ".." anywhere marks a hostile layer, even outside the model files we would extract.
    if (entry.path.replace(/\\/g, '/').split('/').includes('..')) {
      entry.resume();
      throw new UnsafePathError(`${label} entry "${entry.path}"`, 'it contains ".."');
    }
    const what = `${label} entry "${entry.path}"`;
    guard.consume(TAR_HEADER_BYTES, what);
    const rel = mapName(entry.path);
    const skip = () => guard.drain(entry as unknown as AsyncIterable<Buffer>, what);
    if (rel === undefined) return skip();
    if (path.posix.basename(rel).startsWith('.wh.')) {
      await skip();
      session.log.warn({ entry: entry.path }, 'ignoring a whiteout entry in a model layer');
      return;
    }
    // Left out by the include / exclude patterns: read past, never written.
    if (entry.type !== 'Directory' && !session.paths.keeps(rel, session.log)) return skip();
    switch (entry.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        await session.target(rel, what);
        pending.files.push(await writeTemp(session, rel, entry as unknown as AsyncIterable<Buffer>, what, progress, guard));
        return;
      case 'Directory':
        entry.resume();
        await session.target(rel, what, 'folder');
        return;
      case 'SymbolicLink':
        entry.resume();
        await session.target(rel, what);
        pending.links.push({ kind: 'symlink', rel, target: entry.linkpath ?? '', what });
        return;
      case 'Link': {
        entry.resume();
        await session.target(rel, what);
        const target = mapName(entry.linkpath ?? '');
        if (target === undefined) throw new UnsafePathError(what, `it is a hard link to "${entry.linkpath}", outside the model files`);
        pending.links.push({ kind: 'hardlink', rel, target, what });
        return;
      }
      case 'CharacterDevice':
      case 'BlockDevice':
      case 'FIFO':
        entry.resume();
        throw new UnsafePathError(what, `it is a ${entry.type} entry, not a file`);
      default:
        await skip();
        session.log.warn({ entry: entry.path, type: entry.type }, 'skipping a layer entry of an unsupported type');
    }
  };

  try {
    await walkTar(guard.countReceived(blob as AsyncIterable<Buffer>), label, (entry) =>
      handle(entry).catch((err: unknown) => {
        throw entryFailure(err, `${label} entry "${entry.path}"`);
      }),
    'tar layer');
  } catch (err) {
    blob.destroy();
    await discardLayer(pending);
    throw err;
  }
  return pending;
}

/** Moves a verified layer's files into model/ and creates its links (checked to stay inside). */
export async function commitLayer(session: FetchSession, links: ArchiveLinks, pending: PendingLayer, layerDigest: string, what: string): Promise<void> {
  try {
    for (const f of pending.files) {
      const target = await session.target(f.rel, `${what} file "${f.rel}"`);
      links.replaced(f.rel);
      // The layer digest identifies this version of the file, so a re-run can skip it.
      await session.commit(f.temp, target, { path: f.rel, size: f.size, sha256: f.sha256 }, { size: f.size, etag: layerDigest });
    }
    for (const l of pending.links) {
      if (l.kind === 'symlink') await links.symlink(l.rel, l.target, l.what);
      else await links.hardlink(l.rel, l.target, l.what);
    }
  } catch (err) {
    await discardLayer(pending);
    throw err;
  }
}
