// Archive entries, object keys and layer paths must land inside the workspace. A relative path is
// accepted only when every segment is a plain name: no absolute paths, no "..", no drive letters,
// no NUL. Links inside the workspace are checked by the callers that create them.
import path from 'node:path';
import { lstat, realpath } from 'node:fs/promises';
import { ModelSyncError } from '../errors.js';

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
  const target = path.join(root, ...segments);
  const rel = path.relative(root, target);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UnsafePathError(what, 'it leaves the workspace');
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

/**
 * Refuses a target whose existing parent folders pass through a symbolic link that leads out of
 * `root` (a link planted by an earlier archive entry, for example).
 */
export async function assertRealPathInside(root: string, target: string, what: string): Promise<void> {
  const realRoot = await realpath(root);
  let dir = path.dirname(target);
  while (dir.length >= root.length) {
    try {
      await lstat(dir);
      const real = await realpath(dir);
      const rel = path.relative(realRoot, real);
      if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UnsafePathError(what, 'a folder on its path links outside the workspace');
      return;
    } catch (err) {
      if (err instanceof UnsafePathError) throw err;
      dir = path.dirname(dir); // not created yet: check its parent
    }
  }
}
