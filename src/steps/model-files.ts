// The model files package packs: from the inventory fetch wrote (each checked to be in model/,
// of its recorded size), else by walking model/; sorted by path (UTF-8 byte order), none twice.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelSyncError } from '../errors.js';
import { comparePaths } from '../oci/layer-plan.js';
import { readRecord } from '../workspace/records.js';
import { assertResolvesInside, normaliseRelative, safeJoin } from '../workspace/safe-path.js';
import type { StepContext } from './types.js';

export interface ModelFile {
  path: string;
  file: string;
  size: number;
  mtimeMs: number;
  /** From the inventory, when fetch wrote one. */
  sha256?: string;
  /** True when fetch recorded this size and mtime with the sha256: the file is not hashed again. */
  sha256Current?: boolean;
}

/** The model files, sorted: from the inventory fetch wrote, else by walking model/. */
export async function modelFiles(ctx: StepContext): Promise<ModelFile[]> {
  const { workspace } = ctx;
  const inventory = await readRecord(workspace, 'inventory');
  let files: ModelFile[];
  if (inventory) {
    files = [];
    for (const entry of inventory.files) {
      const rel = normaliseRelative(entry.path);
      const file = safeJoin(workspace.modelDir, rel, `inventory entry "${entry.path}"`);
      await assertInsideModelDir(workspace.modelDir, file, rel); // before anything is read through a link
      const s = await stat(file).catch(() => undefined); // links inside model/ count as their target
      if (!s?.isFile()) {
        throw new ModelSyncError('precondition', `model file ${rel} listed in ${path.join(workspace.stateDir, 'inventory.json')} is missing from ${workspace.modelDir}${s ? ' (not a regular file)' : ''}: run fetch again`);
      }
      if (s.size !== entry.size) {
        throw new ModelSyncError('integrity', `model file ${rel} has ${s.size} bytes but the inventory says ${entry.size}: run fetch again`);
      }
      const sha256 = entry.sha256 ? prefixed(entry.sha256) : undefined;
      files.push({ path: rel, file, size: s.size, mtimeMs: s.mtimeMs, sha256, sha256Current: !!sha256 && entry.mtimeMs === s.mtimeMs });
    }
  } else {
    files = await walkModelDir(workspace.modelDir, ctx.log);
  }
  if (files.length === 0) {
    throw new ModelSyncError('precondition', `no model files in ${workspace.modelDir}: run fetch first (KServe needs a non-empty /models)`);
  }
  files.sort((a, b) => comparePaths(a.path, b.path));
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.path === files[i - 1]!.path) throw new ModelSyncError('precondition', `model file ${files[i]!.path} is listed twice in the inventory`);
  }
  return files;
}

function prefixed(sha256: string): string {
  return sha256.startsWith('sha256:') ? sha256 : `sha256:${sha256}`;
}

/**
 * Regular files under `root`. A symbolic link to a file inside `root` counts as that file (fetch
 * keeps such links from archives); one leading out is refused; links to folders or to nothing are
 * skipped, as fetch leaves them out of the inventory.
 */
async function walkModelDir(root: string, log: StepContext['log']): Promise<ModelFile[]> {
  const out: ModelFile[] = [];
  const visit = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && rel === '') return [];
      throw err;
    });
    for (const e of entries) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await visit(full, relPath);
      else if (e.isFile() || e.isSymbolicLink()) {
        const s = await stat(full).catch(() => undefined);
        if (e.isSymbolicLink()) {
          await assertInsideModelDir(root, full, relPath);
          if (!s?.isFile()) {
            log.warn({ path: relPath }, `model/${relPath} is a link to a folder or to nothing: not packed`);
            continue;
          }
        }
        if (!s) throw new ModelSyncError('precondition', `model/${relPath} vanished while the model folder was listed`);
        out.push({ path: relPath, file: full, size: s.size, mtimeMs: s.mtimeMs });
      } else {
        throw new ModelSyncError('precondition', `model/${relPath} is not a regular file (a socket, FIFO or device): package only packs files`);
      }
    }
  };
  await visit(root, '');
  return out;
}

/** A model file reached through a link must still be inside model/ (every link followed). */
async function assertInsideModelDir(modelDir: string, file: string, rel: string): Promise<void> {
  await assertResolvesInside(modelDir, file, `model file "${rel}"`);
}
