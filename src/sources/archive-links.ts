// Links met while unpacking an archive. A symbolic link is created only when its target stays
// inside model/; it then enters the inventory as the file it points to (same size and sha256), so
// later steps read it like any file. Links to folders or to nothing are kept but not listed.
import { link, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { ModelSyncError } from '../errors.js';
import { normaliseRelative, safeJoin, UnsafePathError } from '../workspace/safe-path.js';
import type { FetchSession } from './session.js';

export class ArchiveLinks {
  /** relative link path -> relative target path (both under model/) */
  private readonly symlinks = new Map<string, string>();

  constructor(private readonly session: FetchSession) {}

  async symlink(name: string, linkTarget: string, what: string): Promise<void> {
    const modelDir = this.session.workspace.modelDir;
    const target = await this.session.target(name, what);
    if (linkTarget === '' || linkTarget.includes('\0')) throw new UnsafePathError(what, 'its link target is empty');
    if (path.isAbsolute(linkTarget) || /^[A-Za-z]:/.test(linkTarget) || linkTarget.startsWith('\\')) {
      throw new UnsafePathError(what, `it is a symbolic link to the absolute path "${linkTarget}"`);
    }
    const resolved = path.resolve(path.dirname(target), linkTarget.replace(/\\/g, '/'));
    const inside = path.relative(modelDir, resolved);
    if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) {
      throw new UnsafePathError(what, `its link target "${linkTarget}" leaves the workspace`);
    }
    await mkdir(path.dirname(target), { recursive: true });
    await rm(target, { force: true });
    await symlink(linkTarget, target);
    this.symlinks.set(normaliseRelative(name), inside.split(path.sep).join('/'));
  }

  /** A hard link names an earlier entry by its path in the archive. */
  async hardlink(name: string, linkTarget: string, what: string): Promise<void> {
    const target = await this.session.target(name, what);
    const source = safeJoin(this.session.workspace.modelDir, linkTarget, `${what} (hard link to "${linkTarget}")`);
    const existing = this.session.entry(linkTarget);
    if (!existing) throw new ModelSyncError('integrity', `${what}: hard link target "${linkTarget}" is not a file unpacked before it`);
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
    for (const [rel, first] of this.symlinks) {
      let current = first;
      for (let hops = 0; hops < 16 && this.symlinks.has(current); hops++) current = this.symlinks.get(current)!;
      const file = this.session.entry(current);
      if (file) this.session.add({ path: rel, size: file.size, sha256: file.sha256 }, { size: file.size });
    }
  }
}
