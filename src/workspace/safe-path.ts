// Archive entries, object keys and layer paths must land inside the workspace. A relative path is
// accepted only when every segment is a plain name the file system can hold: no absolute paths, no
// "..", no drive letters, no NUL, no name over 255 bytes. Links are checked against what is on
// disk, the way the kernel will follow them (resolveLinkTarget, assertResolvesInside, openInside).
import path from 'node:path';
import { constants } from 'node:fs';
import { lstat, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { ModelSyncError } from '../errors.js';

/** Linux limits: NAME_MAX per path segment, PATH_MAX (with its NUL) for a whole path. */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4095;

export class UnsafePathError extends ModelSyncError {
  constructor(what: string, reason: string) {
    super('unsafe', `refusing ${what}: ${reason}`);
    this.name = 'UnsafePathError';
  }
}

/** Normalises `relative` (slash-separated) and joins it under `root`, refusing any escape. */
export function safeJoin(root: string, relative: string, what = `path "${relative}"`): string {
  if (relative.includes('\0')) throw new UnsafePathError(what, 'it contains a NUL byte');
  const unified = relative.replace(/\\/g, '/');
  if (unified.startsWith('/') || /^[A-Za-z]:/.test(unified)) throw new UnsafePathError(what, 'it is absolute');
  const segments = unified.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) throw new UnsafePathError(what, 'it contains ".."');
  if (segments.length === 0) throw new UnsafePathError(what, 'it names no file');
  const long = segments.find((s) => Buffer.byteLength(s) > MAX_NAME_BYTES);
  if (long !== undefined) throw new UnsafePathError(what, `its name "${long.slice(0, 40)}…" is longer than ${MAX_NAME_BYTES} bytes, the file system's limit`);
  const target = path.join(root, ...segments);
  if (Buffer.byteLength(target) > MAX_PATH_BYTES) throw new UnsafePathError(what, `its path under the workspace is longer than ${MAX_PATH_BYTES} bytes, the file system's limit`);
  if (!isInside(root, target)) throw new UnsafePathError(what, 'it leaves the workspace');
  return target;
}

/** The relative, slash-separated form that safeJoin accepted. */
export function normaliseRelative(relative: string): string {
  return relative
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** Whether `p` is `root` itself or below it (both absolute, already resolved). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function shown(root: string, p: string): string {
  return path.relative(root, p).split(path.sep).join('/');
}

/**
 * Refuses a target whose existing parent folders pass through a symbolic link that leads out of
 * `root` (a link planted by an earlier archive entry, for example), or whose nearest existing
 * parent is a file (`a` unpacked as a file, then `a/b`).
 */
export async function assertRealPathInside(root: string, target: string, what: string): Promise<void> {
  const realRoot = await realpath(root);
  let dir = path.dirname(target);
  while (dir.length >= root.length) {
    const found = await lstat(dir).then(
      () => true,
      () => false,
    );
    if (!found) {
      dir = path.dirname(dir); // not created yet: check its parent
      continue;
    }
    const real = await realpath(dir).catch(() => undefined);
    if (real === undefined) throw new UnsafePathError(what, `"${shown(root, dir)}" on its path is a link to nothing`);
    if (!isInside(realRoot, real)) throw new UnsafePathError(what, 'a folder on its path links outside the workspace');
    if (!(await stat(real)).isDirectory()) throw new UnsafePathError(what, `"${shown(root, dir)}" on its path is a file, not a folder`);
    return;
  }
}

/**
 * Where a symbolic link at `linkFile` (under `root`) with text `linkTarget` leads, as a path
 * relative to `root`, checked the way the kernel will follow it: from the real folder that holds
 * the link. A ".." climbs only out of real folders already on disk (after a link, or a name not
 * unpacked yet, its meaning could change later), and may never climb out of `root`.
 */
export async function resolveLinkTarget(root: string, linkFile: string, linkTarget: string, what: string): Promise<string> {
  if (linkTarget === '' || linkTarget.includes('\0')) throw new UnsafePathError(what, 'its link target is empty');
  const text = linkTarget.replace(/\\/g, '/');
  if (text.startsWith('/') || /^[A-Za-z]:/.test(text)) throw new UnsafePathError(what, `it is a symbolic link to the absolute path "${linkTarget}"`);
  const realRoot = await realpath(root);
  let current = await realFolder(realRoot, root, path.dirname(linkFile), what);
  let onDisk = true; // `current` is a real folder, so ".." from it is what the kernel does
  for (const segment of text.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (!onDisk) throw new UnsafePathError(what, `its link target "${linkTarget}" climbs with ".." out of a link or a name not unpacked yet`);
      if (current === realRoot) throw new UnsafePathError(what, `its link target "${linkTarget}" leaves the workspace`);
      current = path.dirname(current);
      continue;
    }
    current = path.join(current, segment);
    if (onDisk) onDisk = await lstat(current).then((s) => s.isDirectory(), () => false);
  }
  if (current === realRoot) throw new UnsafePathError(what, `its link target "${linkTarget}" leaves the workspace`);
  return shown(realRoot, current);
}

/** The real path of `dir` (created later by mkdir -p where it does not exist yet), inside `root`. */
async function realFolder(realRoot: string, root: string, dir: string, what: string): Promise<string> {
  const pending: string[] = [];
  let existing = dir;
  while (!(await lstat(existing).then(() => true, () => false))) {
    pending.unshift(path.basename(existing));
    existing = path.dirname(existing);
  }
  const real = path.join(await realpath(existing), ...pending);
  if (!isInside(realRoot, real)) throw new UnsafePathError(what, `"${shown(root, existing)}" on its path links outside the workspace`);
  return real;
}

/** Refuses `file` when, with every link followed, it is not inside `root`. Returns its real path. */
export async function assertResolvesInside(root: string, file: string, what: string, reason = 'it is a link that leads out of the model folder'): Promise<string> {
  const [realRoot, real] = await Promise.all([realpath(root), realpath(file).catch(() => undefined)]);
  if (real !== undefined && !isInside(realRoot, real)) throw new UnsafePathError(what, reason);
  return real ?? file;
}

/**
 * Opens `file` for reading only when, with every link followed, it is a regular file inside
 * `root`; the opened handle is compared with the checked file (device and inode), so a link
 * swapped in between the check and the open cannot redirect the read.
 */
export async function openInside(root: string, file: string, what: string): Promise<FileHandle> {
  const real = await assertResolvesInside(root, file, what);
  const checked = await stat(real);
  if (!checked.isFile()) throw new UnsafePathError(what, 'it is not a regular file');
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') throw new UnsafePathError(what, 'it was replaced by a link while it was being opened');
    throw err;
  });
  try {
    const opened = await handle.stat();
    if (opened.dev !== checked.dev || opened.ino !== checked.ino) throw new UnsafePathError(what, 'it was replaced while it was being opened');
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}
