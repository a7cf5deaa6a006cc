// Room on the volume a step writes to: the free bytes (statfs), a check before a download whose
// size is known, and the one translation of ENOSPC / EDQUOT into a `noSpace` error (exit 8, never
// retried: the same Job on the same volume fails the same way).
import { statfs } from 'node:fs/promises';
import { isNoSpace, ModelSyncError } from '../errors.js';

/** Where a write went and how the user grows it; `setting` names the flag / env var of the folder. */
export interface VolumeTarget {
  folder: string;
  setting: string;
  /** What grows this volume, e.g. "give the workspace volume more space (the Job's emptyDir sizeLimit or PVC size)". */
  grow?: string;
}

export const GROW_WORKSPACE = "give the workspace volume more space, e.g. the Job's emptyDir sizeLimit or the PVC's size";

/** Bytes an unprivileged writer may still use on the volume holding `folder`; undefined when unknown. */
export async function freeBytes(folder: string): Promise<number | undefined> {
  try {
    const s = await statfs(folder);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

export class NoSpaceError extends ModelSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('noSpace', message, options);
    this.name = 'NoSpaceError';
  }
}

/** The one-line error: folder, bytes needed (when known), bytes free, and how to grow the volume. */
export async function noSpaceError(target: VolumeTarget, opts: { needed?: Needed; cause?: unknown; before?: boolean } = {}): Promise<NoSpaceError> {
  const free = await freeBytes(target.folder);
  const facts = [
    ...(opts.needed ? [`${opts.needed.atLeast ? 'at least ' : ''}${opts.needed.bytes} bytes needed`] : []),
    `${free ?? 'unknown'} bytes free`,
  ].join(', ');
  const when = opts.before ? 'not enough space for this download' : 'no space left';
  return new NoSpaceError(`${when} in ${target.folder} (${target.setting}): ${facts}; ${target.grow ?? GROW_WORKSPACE}`, opts.cause !== undefined ? { cause: opts.cause } : undefined);
}

/** Bytes a write needs: exact, or a lower bound (a compressed archive expands by an unknown factor). */
export interface Needed {
  bytes: number;
  atLeast?: boolean;
}

/** Fails with a noSpace error, before anything is written, when the needed bytes do not fit. */
export async function ensureRoom(target: VolumeTarget, needed: Needed): Promise<void> {
  if (needed.bytes <= 0) return;
  const free = await freeBytes(target.folder);
  if (free !== undefined && needed.bytes > free) throw await noSpaceError(target, { needed, before: true });
}

/** `err` as a noSpace error naming `target` when the disk was full, else `err` unchanged. */
export async function asNoSpace(err: unknown, target: VolumeTarget, needed?: Needed): Promise<unknown> {
  if (!isNoSpace(err)) return err;
  // A writer closer to the fault may already have named its folder: keep that message.
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++, e = (e as { cause?: unknown }).cause) {
    if (e instanceof ModelSyncError && e.kind === 'noSpace') return e;
  }
  return noSpaceError(target, { cause: err, ...(needed !== undefined ? { needed } : {}) });
}

/** Runs `fn`, turning a full disk into a noSpace error naming `target`. */
export async function translatingNoSpace<T>(target: VolumeTarget, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw await asNoSpace(err, target);
  }
}
