// One fetch run: where files are written (temp name, then rename into model/), what a previous run
// already completed (the step record fetch.json), progress, and the inventory being built.
//
// A file counts as complete on a re-run only when fetch.json recorded it with the same source
// identity (size, and ETag / Content-Length / mtime where the source has one) AND model/<path>
// still has that size. Its sha256 then comes from the record, so nothing is read twice.
// fetch.json is rewritten whole, so it is saved at most every SAVE_INTERVAL_MS (a model of thousands
// of files would otherwise rewrite it thousands of times, a cost growing with the square of the
// count); a kill -9 loses at most the files of that interval, which the re-run fetches again.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isNoSpace, ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import { downloadObject, type ObjectBytes, type RangedTuning } from '../s3/download.js';
import { discardPartial } from '../s3/partial.js';
import { forEachLimit, Limiter } from '../util/concurrency.js';
import { Progress } from '../util/progress.js';
import { Sha256Meter } from '../util/sha256-meter.js';
import { asNoSpace, ensureRoom, type Needed } from '../workspace/disk.js';
import { assertRealPathInside, normaliseRelative, safeJoin, UnsafePathError } from '../workspace/safe-path.js';
import { readRecord, recordExists, writeRecord, type FetchRecord, type Inventory, type InventoryEntry, type SourceIdentity } from '../workspace/records.js';
import type { Workspace } from '../workspace/workspace.js';
import type { PathPatterns } from '../util/fnmatch.js';
import { ExpansionGuard, type ArchiveLimits } from './archive-limits.js';
import { PathFilter } from './path-filter.js';

export type { SourceIdentity };


/** Least time between two writes of fetch.json: what a kill -9 can leave unrecorded. */
export const SAVE_INTERVAL_MS = 250;
/** A write may take at most this share of the time (a record of tens of thousands of files)... */
const SAVE_SHARE = 0.1;
/** ...but the files a kill -9 can leave unrecorded stay those of a few seconds at most. */
export const SAVE_MAX_INTERVAL_MS = 5000;

/** The sessions running per state folder: the stop account waits for their save (recordSaved). */
const running = new Map<string, FetchSession>();

/** Test hook: called after each write of fetch.json. */
export const saveHooks: { written?: (record: FetchRecord) => void } = {};

/** Resolves once fetch.json holds what a session running in `workspace` has recorded so far. */
export async function recordSaved(workspace: Workspace): Promise<void> {
  await running.get(workspace.stateDir)?.flush().catch(() => undefined);
}

/** Raised when the bytes received differ from the announced length (a cut connection). */
export class SizeMismatchError extends ModelSyncError {
  constructor(what: string, received: number, expected: number) {
    super('integrity', `${what}: received ${received} bytes, expected ${expected}`);
    this.name = 'SizeMismatchError';
  }
}

export function sameIdentity(a: SourceIdentity, b: SourceIdentity): boolean {
  if (a.size !== b.size) return false;
  const fields = ['etag', 'contentLength', 'mtimeMs'] as const;
  let compared = 0;
  for (const f of fields) {
    if (a[f] === undefined && b[f] === undefined) continue;
    if (a[f] !== b[f]) return false;
    compared++;
  }
  return compared > 0; // size alone never proves a file is the same
}

/**
 * Whether `record` (fetch.json) holds `relative` with this identity and model/<relative> still has
 * its size: what a re-run skips. Reads only, so preflight may ask it too.
 */
export async function isRecordedComplete(workspace: Workspace, record: FetchRecord | undefined, relative: string, identity: SourceIdentity): Promise<boolean> {
  const rel = normaliseRelative(relative);
  const recorded = record?.files[rel];
  if (!recorded || !sameIdentity(recorded, identity)) return false;
  const size = await stat(safeJoin(workspace.modelDir, rel))
    .then((s) => (s.isFile() ? s.size : -1))
    .catch(() => -1);
  return size === recorded.size;
}

/** What a fetch needs from its step: where to write, how to log, and its tuning. */
export interface FetchContext {
  workspace: Workspace;
  log: Logger;
  /** Files (and ranged parts) at once; at least 1 (config/ checks). */
  concurrency: number;
  progressIntervalSeconds: number;
  /** Timeouts and retries of every request the source makes. */
  network: NetworkSettings;
  /** How far an archive or layer may expand (archive-limits.ts). */
  archiveLimits: ArchiveLimits;
  /** Which files of the source to take (--source-include / --source-exclude); none: all of them. */
  patterns?: PathPatterns;
  /** The run's stop signal: downloads given it end at once (files only become complete by rename). */
  signal?: AbortSignal;
}

/** Bytes to write: a stream, or a function that opens one only when the target has been checked. */
export type ByteSource = Readable | AsyncIterable<Buffer> | (() => Promise<Readable | AsyncIterable<Buffer>>);

/** A file received into a temp file of the session, hashed, not yet in model/. */
export interface ReceivedFile {
  temp: string;
  entry: InventoryEntry;
}

export class FetchSession {
  readonly log: Logger;
  readonly workspace: Workspace;
  readonly concurrency: number;
  readonly progressInterval: number;
  readonly signal: AbortSignal | undefined;
  private readonly archiveLimits: ArchiveLimits;
  /** Temp files of this step; stale ones from an interrupted run are removed at start. */
  readonly tmpDir: string;
  /** Partial large downloads with their records (s3/partial.ts), kept across runs of the same source. */
  readonly partialDir: string;
  private record: FetchRecord;
  private readonly files = new Map<string, InventoryEntry>();
  /** The write of fetch.json in flight, the next one's timer, and whether anything changed since. */
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private lastWriteEnd = 0;
  private lastWriteMs = 0;
  private saveError: unknown;
  skipped = 0;
  /** The include / exclude patterns of this run: what each source's listing keeps. */
  readonly paths: PathFilter;
  /** Bytes this run still has to write, when the source told them before the download. */
  needed: Needed | undefined;

  private constructor(ctx: FetchContext, source: string, previous: FetchRecord | undefined) {
    this.log = ctx.log;
    this.workspace = ctx.workspace;
    this.concurrency = ctx.concurrency;
    this.progressInterval = ctx.progressIntervalSeconds;
    this.signal = ctx.signal;
    this.archiveLimits = ctx.archiveLimits;
    this.paths = new PathFilter(ctx.patterns);
    this.tmpDir = path.join(ctx.workspace.tmpDir, 'fetch');
    this.partialDir = path.join(ctx.workspace.tmpDir, 'fetch-partial');
    this.record = previous ?? { source, complete: false, files: {}, updated: new Date().toISOString() };
    this.record.complete = false;
  }

  /** Opens the run for `source` (a display form without credentials or query). */
  static async start(ctx: FetchContext, source: string): Promise<FetchSession> {
    let previous = await readRecord(ctx.workspace, 'fetch');
    if (previous ? previous.source !== source : await recordExists(ctx.workspace, 'fetch')) {
      // The workspace held another model: its files must not be mixed into this one.
      ctx.log.warn({ previous: previous?.source, source }, 'workspace holds files of another source; clearing model/');
      await rm(ctx.workspace.modelDir, { recursive: true, force: true });
      await mkdir(ctx.workspace.modelDir, { recursive: true });
      await rm(path.join(ctx.workspace.tmpDir, 'fetch-partial'), { recursive: true, force: true });
      previous = undefined;
    }
    const session = new FetchSession(ctx, source, previous);
    const stale = await readdir(session.tmpDir).catch(() => [] as string[]);
    if (stale.length > 0) ctx.log.info({ files: stale.length }, 'removing partial downloads of an interrupted run');
    await rm(session.tmpDir, { recursive: true, force: true });
    await mkdir(session.tmpDir, { recursive: true });
    running.set(ctx.workspace.stateDir, session);
    // Stopped: record what is complete now, not up to SAVE_INTERVAL_MS later.
    ctx.signal?.addEventListener('abort', session.onAbort, { once: true });
    return session;
  }

  get source(): string {
    return this.record.source;
  }

  progress(label: string, total: number): Progress {
    return new Progress(this.log, label, total, this.progressInterval);
  }

  /** A fresh guard for one archive or layer (of `announcedSize` bytes when known), counted from zero. */
  expansionGuard(announcedSize?: number): ExpansionGuard {
    return new ExpansionGuard(this.archiveLimits, announcedSize);
  }

  /**
   * model/<relative>, refusing paths that leave the workspace (also through planted links) and
   * names taken by the other kind: a file (or link) where a folder is, a folder where a file is.
   */
  async target(relative: string, what: string, kind: 'file' | 'folder' = 'file'): Promise<string> {
    const target = safeJoin(this.workspace.modelDir, relative, what);
    await assertRealPathInside(this.workspace.modelDir, target, what);
    const existing = await (kind === 'file' ? lstat(target) : stat(target)).catch(() => undefined);
    if (kind === 'file' && existing?.isDirectory()) throw new UnsafePathError(what, `model/${normaliseRelative(relative)} is already a folder`);
    if (kind === 'folder' && existing && !existing.isDirectory()) throw new UnsafePathError(what, `model/${normaliseRelative(relative)} is already a file`);
    return target;
  }

  /**
   * The partial file of a large download of `relative` and its record: the same names in every run
   * of this source, so a run after a kill finds them (download.ts decides whether they match).
   */
  async partialPaths(relative: string): Promise<{ file: string; record: string }> {
    await mkdir(this.partialDir, { recursive: true });
    const rel = normaliseRelative(relative);
    const name = `${createHash('sha256').update(rel).digest('hex').slice(0, 16)}-${path.basename(rel).replace(/[^A-Za-z0-9._-]/g, '_').slice(-60)}`;
    return { file: path.join(this.partialDir, name), record: path.join(this.partialDir, `${name}.json`) };
  }

  tempPath(hint: string): string {
    return path.join(this.tmpDir, path.basename(this.workspace.tempPath(hint)));
  }

  /** Whether `relative` is complete from an earlier run with the same identity (nothing recorded yet). */
  isComplete(relative: string, identity: SourceIdentity): Promise<boolean> {
    return isRecordedComplete(this.workspace, this.record, relative, identity);
  }

  /**
   * Before a download whose size the source announced: fails with a noSpace error (nothing
   * written) when `bytes` (what is not complete yet; `atLeast` when only a lower bound is known)
   * exceed the free space of the workspace.
   */
  async ensureRoom(bytes: number, opts: { atLeast?: boolean } = {}): Promise<void> {
    this.needed = { bytes, ...opts };
    this.log.debug({ needed: bytes, atLeast: opts.atLeast ?? false }, 'checking the free space of the workspace');
    await ensureRoom(this.workspace.volume, this.needed);
  }

  /** The recorded entry when `relative` is complete from an earlier run with the same identity. */
  async completed(relative: string, identity: SourceIdentity): Promise<InventoryEntry | undefined> {
    const rel = normaliseRelative(relative);
    if (!(await this.isComplete(rel, identity))) return undefined;
    const recorded = this.record.files[rel]!;
    const size = recorded.size;
    this.log.info({ path: rel, size }, 'already complete, skipping');
    this.skipped++;
    const entry = { path: rel, size: recorded.size, sha256: recorded.sha256 };
    this.files.set(rel, entry);
    return entry;
  }

  /**
   * Streams `source` into a temp file of the session while hashing it (through `guard`'s counter
   * when it is an archive entry). The temp file is removed when anything fails.
   */
  async receive(relative: string, source: ByteSource, opts: { what: string; progress?: (n: number) => void; guard?: ExpansionGuard }): Promise<ReceivedFile> {
    const temp = this.tempPath(relative);
    const meter = new Sha256Meter(opts.progress);
    try {
      // Opened here, right before the pipeline listens, so that no early error goes unheard.
      const input = typeof source === 'function' ? await source() : source;
      if (opts.guard) await pipeline(input, opts.guard.counter(opts.what), meter, createWriteStream(temp));
      else await pipeline(input, meter, createWriteStream(temp));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { temp, entry: { path: normaliseRelative(relative), size: meter.bytes, sha256: meter.digestHex() } };
  }

  /**
   * Streams `source` into a temp file while hashing it, checks the length, then renames it into
   * model/<relative>. Nothing appears under model/ before it is complete.
   */
  async writeStream(
    relative: string,
    source: ByteSource,
    opts: { what: string; expectedSize?: number; expectedSha256?: string; progress?: Progress; guard?: ExpansionGuard; identity?: Omit<SourceIdentity, 'size'> },
  ): Promise<InventoryEntry> {
    const target = await this.target(relative, opts.what);
    const progress = opts.progress;
    const { temp, entry } = await this.receive(relative, source, { what: opts.what, progress: (n) => progress?.add(n), ...(opts.guard ? { guard: opts.guard } : {}) });
    if (opts.expectedSize !== undefined && entry.size !== opts.expectedSize) {
      await rm(temp, { force: true });
      throw new SizeMismatchError(opts.what, entry.size, opts.expectedSize);
    }
    if (opts.expectedSha256 && opts.expectedSha256 !== entry.sha256) {
      await rm(temp, { force: true });
      throw new ModelSyncError('integrity', `${opts.what}: sha256 ${entry.sha256} differs from the expected ${opts.expectedSha256}`);
    }
    await this.commit(temp, target, entry, { size: entry.size, ...opts.identity });
    return entry;
  }

  /** Moves a complete temp file into place and records it. */
  async commit(temp: string, target: string, entry: InventoryEntry, identity: SourceIdentity): Promise<void> {
    await mkdir(path.dirname(target), { recursive: true });
    await rename(temp, target);
    this.add(entry, identity);
  }

  /** Records a file placed by other means (a link to an extracted file). */
  add(entry: InventoryEntry, identity: SourceIdentity): void {
    this.files.set(entry.path, entry);
    this.record.files[entry.path] = { ...identity, size: entry.size, sha256: entry.sha256 };
    this.save();
  }

  entryCount(): number {
    return this.files.size;
  }

  entry(relative: string): InventoryEntry | undefined {
    return this.files.get(normaliseRelative(relative));
  }

  get archive(): FetchRecord['archive'] {
    return this.record.archive;
  }

  setArchive(archive: FetchRecord['archive']): void {
    this.record.archive = archive;
    this.save();
  }

  /**
   * When every file recorded by the previous run is still in model/ with its size, takes them all
   * into this run's inventory and returns true (an archive that did not change is not unpacked again).
   */
  async reuseAllRecorded(): Promise<boolean> {
    const recorded = Object.entries(this.record.files);
    if (recorded.length === 0) return false;
    for (const [rel, file] of recorded) {
      const size = await stat(safeJoin(this.workspace.modelDir, rel))
        .then((s) => (s.isFile() ? s.size : -1))
        .catch(() => -1);
      if (size !== file.size) return false;
    }
    for (const [rel, file] of recorded) this.files.set(rel, { path: rel, size: file.size, sha256: file.sha256 });
    this.skipped += recorded.length;
    this.log.info({ files: recorded.length }, 'already complete, skipping: every file of the unchanged archive is in place');
    return true;
  }

  /** Forgets recorded files (an archive that changed is unpacked again from scratch). */
  forgetFiles(): void {
    this.record.files = {};
    this.files.clear();
    this.paths.reset();
    this.save();
  }

  /**
   * Schedules a write of fetch.json: at most one in flight, the next no sooner than
   * SAVE_INTERVAL_MS after the last one ended (longer when a write takes over SAVE_SHARE of that,
   * up to SAVE_MAX_INTERVAL_MS).
   */
  private save(): void {
    this.dirty = true;
    if (this.timer || this.writing) return; // the write in flight schedules the next one
    const interval = Math.min(SAVE_MAX_INTERVAL_MS, Math.max(SAVE_INTERVAL_MS, this.lastWriteMs / SAVE_SHARE));
    const wait = interval - (Date.now() - this.lastWriteEnd);
    this.timer = setTimeout(() => void this.write(), Math.max(0, wait));
  }

  private write(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return this.writing;
    this.dirty = false;
    this.record.updated = new Date().toISOString();
    const started = Date.now();
    this.writing = writeRecord(this.workspace, 'fetch', this.record)
      .then(
        () => {
          this.saveError = undefined; // this write holds everything the failed one had
          saveHooks.written?.(this.record);
        },
        (err: unknown) => {
          this.saveError ??= err; // flush() reports it
        },
      )
      .finally(() => {
        this.lastWriteEnd = Date.now();
        this.lastWriteMs = this.lastWriteEnd - started;
        this.writing = undefined;
        if (this.dirty) this.save();
      });
    return this.writing;
  }

  /** Writes what is not saved yet, now, and waits for it; fails when a write failed. */
  async flush(): Promise<void> {
    while (this.writing || this.dirty) {
      if (this.writing) await this.writing;
      else await this.write();
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.saveError) throw this.saveError;
  }

  private readonly onAbort = (): void => void this.flush().catch(() => undefined);

  /** Ends the session: nothing of it is written any more after this (flush first). */
  close(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.timer);
    this.timer = undefined;
    if (running.get(this.workspace.stateDir) === this) running.delete(this.workspace.stateDir);
  }

  /** Marks the run complete and returns the inventory, files in path order. */
  async finish(): Promise<Inventory> {
    this.record.complete = true;
    this.save();
    try {
      await this.flush();
    } finally {
      this.close();
    }
    await rm(this.tmpDir, { recursive: true, force: true });
    await rm(this.partialDir, { recursive: true, force: true });
    const files = [...this.files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const filtered = this.paths.summary();
    return { source: this.record.source, files, totalBytes: files.reduce((n, f) => n + f.size, 0), ...(filtered ? { filtered } : {}) };
  }
}

/** Runs one source's fetch in a session; on failure the record of completed files is still saved. */
export async function withSession(ctx: FetchContext, source: string, fn: (session: FetchSession) => Promise<void>): Promise<Inventory> {
  const session = await FetchSession.start(ctx, source);
  try {
    await fn(session);
  } catch (err) {
    await session.flush().catch(() => undefined);
    session.close();
    // The temp files of the failed write are gone (receive() removes them): a re-run with more space starts clean.
    // Mid-way a lower bound says nothing (it fitted when checked): only an exact need is named.
    throw await asNoSpace(err, ctx.workspace.volume, session.needed?.atLeast ? undefined : session.needed);
  }
  const inventory = await session.finish();
  ctx.log.info({ files: inventory.files.length, bytes: inventory.totalBytes, skipped: session.skipped }, `fetched ${source}`);
  return inventory;
}

/** One listed object of a store read by ranged downloads (an S3 object, an Azure blob). */
export interface ListedObject {
  key: string;
  relative: string;
  size: number;
  etag?: string;
}

/** What identifies one version of a listed object, as fetch records it. */
export function identityOf(o: { size: number; etag?: string | undefined }): SourceIdentity {
  return { size: o.size, ...(o.etag ? { etag: o.etag } : {}) };
}

/**
 * Downloads listed objects into model/ (S3 and Azure Blob share this): the room for what is not
 * complete yet is checked before any body is read, complete files are skipped, and an object above
 * the ranged threshold downloads into a kept partial file that a run after a kill resumes.
 * `read` says where an object's bytes come from (an S3 client and bucket, or a RangeReader);
 * `what` names it in messages.
 */
export async function downloadListed<T extends ListedObject>(
  ctx: FetchContext,
  session: FetchSession,
  label: string,
  objects: T[],
  tuning: RangedTuning,
  what: (o: T) => string,
  read: (o: T) => ObjectBytes,
): Promise<void> {
  const total = objects.reduce((n, o) => n + o.size, 0);
  let needed = 0;
  for (const o of objects) {
    if (!(await session.isComplete(o.relative, identityOf(o)))) needed += o.size;
  }
  await session.ensureRoom(needed);
  const progress = session.progress(`fetch ${label}`, total);
  const requests = new Limiter(session.concurrency);
  try {
    await forEachLimit(objects, session.concurrency, async (o) => {
      const identity = identityOf(o);
      if (await session.completed(o.relative, identity)) {
        progress.add(o.size);
        return;
      }
      const target = await session.target(o.relative, what(o));
      const ranged = o.size > tuning.threshold && o.etag !== undefined;
      const partial = ranged ? await session.partialPaths(o.relative) : undefined;
      const temp = partial?.file ?? session.tempPath(o.relative);
      try {
        const { sha256, size } = await downloadObject({
          ...read(o),
          key: o.key,
          size: o.size,
          ...(o.etag ? { etag: o.etag } : {}),
          file: temp,
          requests,
          tuning,
          progress,
          log: ctx.log,
          attempts: ctx.network.retryAttempts,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          ...(partial ? { partialRecord: partial.record } : {}),
        });
        await session.commit(temp, target, { path: o.relative, size, sha256 }, identity);
        ctx.log.debug({ key: o.key, path: o.relative, size }, 'downloaded');
      } catch (err) {
        // Bytes that arrived intact are kept for the next run, unless they are the problem
        // (integrity) or hold the room a re-run with more space needs (noSpace).
        if (partial && !(err instanceof ModelSyncError && (err.kind === 'integrity' || err.kind === 'noSpace' || err.kind === 'internal')) && !isNoSpace(err)) throw err;
        if (partial) await discardPartial(partial.file, partial.record);
        else await rm(temp, { force: true });
        throw err;
      }
    });
  } finally {
    progress.report();
    progress.finish();
  }
}
