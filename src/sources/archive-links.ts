// Links met while unpacking an archive. A symbolic link is created only when it stays inside
// model/ as the kernel will follow it: from the real folder that holds it, through the links
// already on disk (resolveLinkTarget). It then enters the inventory as the file it points to (same
// size and sha256), so later steps read it like any file. Links to folders or to nothing are kept
// but not listed.
import { link, lstat, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { ModelSyncError } from '../errors.js';
import { assertResolvesInside, normaliseRelative, resolveLinkTarget, safeJoin, UnsafePathError } from '../workspace/safe-path.js';
import type { FetchSession } from './session.js';

/** The kernel's limit on links followed in one lookup (ELOOP). */
const MAX_LINK_HOPS = 40;

export class ArchiveLinks {
  /** relative link path -> where it leads, relative to model/ (names only, no "..") */
  private readonly symlinks = new Map<string, string>();

  constructor(private readonly session: FetchSession) {}

  async symlink(name: string, linkTarget: string, what: string): Promise<void> {
    const modelDir = this.session.workspace.modelDir;
    const target = await this.session.target(name, what);
    const resolved = await resolveLinkTarget(modelDir, target, linkTarget, what);
    await mkdir(path.dirname(target), { recursive: true });
    await rm(target, { force: true });
    await symlink(linkTarget, target);
    this.symlinks.set(normaliseRelative(name), resolved);
  }

  /** A hard link names an earlier entry by its path in the archive. */
  async hardlink(name: string, linkTarget: string, what: string): Promise<void> {
    const modelDir = this.session.workspace.modelDir;
    const target = await this.session.target(name, what);
    const source = safeJoin(modelDir, linkTarget, `${what} (hard link to "${linkTarget}")`);
    const existing = this.session.entry(linkTarget);
    if (!existing) throw new ModelSyncError('integrity', `${what}: hard link target "${linkTarget}" is not a file unpacked before it`);
    // link() does not follow a final symbolic link, but it does follow the folders on the way.
    await assertResolvesInside(modelDir, source, what, `its hard link target "${linkTarget}" leads out of the model folder`);
    if ((await lstat(source)).isSymbolicLink()) throw new UnsafePathError(what, `its hard link target "${linkTarget}" is a symbolic link`);
    const temp = this.session.tempPath(name);
    await link(source, temp);
    await this.session.commit(temp, target, { ...existing, path: normaliseRelative(name) }, { size: existing.size });
  }

  /** A regular file replaced a link of the same name. */
  replaced(name: string): void {
    this.symlinks.delete(normaliseRelative(name));
  }

  /** Lists each symbolic link to a file as that file. */
  addToInventory(): void {
    for (const rel of this.symlinks.keys()) {
      const file = this.resolve(rel);
      const entry = file === undefined ? undefined : this.session.entry(file);
      if (entry) this.session.add({ path: rel, size: entry.size, sha256: entry.sha256 }, { size: entry.size });
    }
  }

  /** Follows the links of this archive in every segment of `rel`, as a lookup would. */
  private resolve(rel: string): string | undefined {
    let segments = rel.split('/');
    let hops = 0;
    for (let i = 1; i <= segments.length; i++) {
      const next = this.symlinks.get(segments.slice(0, i).join('/'));
      if (next === undefined) continue;
      if (++hops > MAX_LINK_HOPS) return undefined;
      segments = [...(next === '' ? [] : next.split('/')), ...segments.slice(i)];
      i = 0;
    }
    return segments.join('/');
  }
}
