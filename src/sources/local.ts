// Fetch source `uri` with file://, a plain path, or pvc://<claim>/<path> (resolved under
// --pvc-mount-root, where KServe mounts claims): a file or a folder copied into model/.
// Symbolic links are followed only while they stay inside the source root (the given folder;
// for pvc:// the claim's folder, so a Hugging Face cache snapshot that links to ../../blobs works);
// a link leading elsewhere is refused with an `unsafe` error.
import { constants, createReadStream } from 'node:fs';
import { access, lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ModelSyncError } from '../errors.js';
import type { Inventory } from '../workspace/records.js';
import { safeJoin, UnsafePathError } from '../workspace/safe-path.js';
import { forEachLimit } from '../util/concurrency.js';
import type { Logger } from '../log.js';
import { readRecord } from '../workspace/records.js';
import type { SourceProbe, SourceProbeContext } from './probe-types.js';
import { isRecordedComplete, withSession, type FetchContext } from './session.js';

export interface LocalSource {
  /** The file or folder to copy. */
  path: string;
  /** Links may not lead outside this folder. */
  root: string;
  /** How the source is shown (and recorded). */
  display: string;
}

export function resolveLocalSource(uri: string, pvcMountRoot: string, describe: string): LocalSource {
  if (uri.startsWith('pvc://')) {
    const rest = uri.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const claim = slash >= 0 ? rest.slice(0, slash) : rest;
    const inner = slash >= 0 ? rest.slice(slash + 1) : '';
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(claim)) throw new ConfigError(`${describe}: "${uri}" is not pvc://<claim>/<path>`);
    const claimRoot = path.join(path.resolve(pvcMountRoot), claim);
    const target = inner.replace(/\/+$/, '') === '' ? claimRoot : safeJoin(claimRoot, inner, `source path "${inner}" of ${uri}`);
    return { path: target, root: claimRoot, display: `pvc://${claim}/${inner}` };
  }
  let p: string;
  if (uri.startsWith('file://')) {
    try {
      p = fileURLToPath(uri);
    } catch (err) {
      throw new ConfigError(`${describe}: "${uri}" is not a valid file:// URI (${(err as Error).message})`);
    }
  } else p = uri;
  const abs = path.resolve(p);
  return { path: abs, root: abs, display: `file://${abs}` };
}

export interface PlannedFile {
  absolute: string;
  relative: string;
  size: number;
  mtimeMs: number;
}

/** The files a local source names (links checked, nothing read): what fetch copies, and preflight sizes. */
export async function planLocalSource(uri: string, pvcMountRoot: string, setting: string, log: Logger): Promise<{ src: LocalSource; files: PlannedFile[] }> {
  const src = resolveLocalSource(uri, pvcMountRoot, setting);
  const top = await stat(src.path).catch((err: NodeJS.ErrnoException) => {
    throw new ModelSyncError('notFound', `${src.display}: ${err.code === 'ENOENT' ? 'no such file or folder' : err.message} (${src.path})`);
  });
  const realRoot = await realpath(src.root);
  const files: PlannedFile[] = [];
  if (top.isFile()) {
    await assertInside(src.path, realRoot, src);
    files.push({ absolute: src.path, relative: path.basename(src.path), size: top.size, mtimeMs: top.mtimeMs });
  } else if (top.isDirectory()) {
    await assertInside(src.path, realRoot, src);
    await walk(src.path, '', realRoot, src, files, log);
  } else {
    throw new ModelSyncError('unsafe', `refusing ${src.display}: not a regular file or folder`);
  }
  if (files.length === 0) throw new ModelSyncError('notFound', `${src.display}: the folder holds no files`);
  return { src, files };
}

/**
 * For preflight: the source exists, every file is readable by this process, and what fetch would
 * still copy (files complete from an earlier run of this source left out). Reads no file's bytes.
 */
export async function probeLocalSource(ctx: SourceProbeContext, uri: string, pvcMountRoot: string, setting: string): Promise<SourceProbe> {
  const { src, files } = await planLocalSource(uri, pvcMountRoot, setting, ctx.log);
  const record = await readRecord(ctx.workspace, 'fetch');
  const previous = record?.source === src.display ? record : undefined;
  let needed = 0;
  for (const f of files) {
    await access(f.absolute, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      throw new ModelSyncError('auth', `${src.display}: ${f.relative} cannot be read by this process (${err.code ?? err.message}); give the pod read access to the volume (${setting})`);
    });
    if (!(await isRecordedComplete(ctx.workspace, previous, f.relative, { size: f.size, mtimeMs: f.mtimeMs }))) needed += f.size;
  }
  return { label: src.display, files: files.length, needed: { bytes: needed } };
}

export async function fetchFromLocal(ctx: FetchContext, uri: string, pvcMountRoot: string, setting: string): Promise<Inventory> {
  const { src, files: listed } = await planLocalSource(uri, pvcMountRoot, setting, ctx.log);

  return withSession(ctx, src.display, async (session) => {
    const files = session.paths.keep(listed, (f) => f.relative, src.display, ctx.log);
    const total = files.reduce((n, f) => n + f.size, 0);
    ctx.log.info({ source: src.display, files: files.length, bytes: total }, `copying ${files.length} file(s)`);
    let needed = 0;
    for (const f of files) if (!(await session.isComplete(f.relative, { size: f.size, mtimeMs: f.mtimeMs }))) needed += f.size;
    await session.ensureRoom(needed);
    const progress = session.progress(`fetch ${src.display}`, total);
    try {
      await forEachLimit(files, session.concurrency, async (f) => {
        const identity = { size: f.size, mtimeMs: f.mtimeMs };
        if (await session.completed(f.relative, identity)) {
          progress.add(f.size);
          return;
        }
        await session.writeStream(f.relative, createReadStream(f.absolute), {
          what: `${src.display}: ${f.relative}`,
          expectedSize: f.size,
          progress,
          identity: { mtimeMs: f.mtimeMs },
        });
      });
    } finally {
      progress.finish();
    }
  });
}

async function walk(dir: string, relDir: string, realRoot: string, src: LocalSource, out: PlannedFile[], log: Logger): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const abs = path.join(dir, e.name);
    const rel = relDir ? `${relDir}/${e.name}` : e.name;
    if (e.isDirectory()) {
      await walk(abs, rel, realRoot, src, out, log);
    } else if (e.isFile()) {
      const s = await stat(abs);
      out.push({ absolute: abs, relative: rel, size: s.size, mtimeMs: s.mtimeMs });
    } else if (e.isSymbolicLink()) {
      const real = await assertInside(abs, realRoot, src, rel);
      const s = await stat(real);
      if (s.isFile()) out.push({ absolute: real, relative: rel, size: s.size, mtimeMs: s.mtimeMs });
      else log.warn({ path: rel }, 'not following a symbolic link to a folder');
    } else {
      log.warn({ path: rel }, 'skipping a special file (socket, FIFO or device)');
    }
  }
}

/** The real path of `p`, refusing one that leads outside the source root. */
async function assertInside(p: string, realRoot: string, src: LocalSource, rel?: string): Promise<string> {
  const what = `${src.display}${rel ? `: ${rel}` : ''}`;
  let real: string;
  try {
    real = await realpath(p);
  } catch {
    const link = await lstat(p).catch(() => undefined);
    throw new ModelSyncError('notFound', `${what}: ${link?.isSymbolicLink() ? 'dangling symbolic link' : 'cannot be read'}`);
  }
  const inside = path.relative(realRoot, real);
  if (inside.startsWith('..') || path.isAbsolute(inside)) {
    throw new UnsafePathError(what, `it links to ${real}, outside the source root ${src.root}`);
  }
  return real;
}
