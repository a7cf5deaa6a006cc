// The on-volume contract between steps (see DESIGN.md):
//   <storage>/model/        model files, only complete ones
//   <storage>/image/        OCI image layout of the modelcar
//   <storage>/.model-sync/  step records (<name>.json, typed in records.ts), results/<name>, tmp/
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from '../util/atomic-write.js';
import type { VolumeTarget } from './disk.js';

export class Workspace {
  readonly root: string;
  readonly modelDir: string;
  readonly imageDir: string;
  readonly stateDir: string;
  readonly resultsDir: string;
  readonly tmpDir: string;
  /** The volume, for a full-disk message: the folder and the setting that names it. */
  readonly volume: VolumeTarget;

  /** `setting` is how messages name the folder's setting (config/ gives its flag and env var). */
  constructor(storagePath: string, setting = 'the storage path') {
    this.root = path.resolve(storagePath);
    this.volume = { folder: this.root, setting };
    this.modelDir = path.join(this.root, 'model');
    this.imageDir = path.join(this.root, 'image');
    this.stateDir = path.join(this.root, '.model-sync');
    this.resultsDir = path.join(this.stateDir, 'results');
    this.tmpDir = path.join(this.stateDir, 'tmp');
  }

  async init(): Promise<this> {
    for (const dir of [this.modelDir, this.stateDir, this.resultsDir, this.tmpDir]) await mkdir(dir, { recursive: true });
    return this;
  }

  /** A fresh temporary file name on the same volume, so that rename() into model/ is atomic. */
  tempPath(hint: string): string {
    const safe = hint.replace(/[^A-Za-z0-9._-]/g, '_').slice(-80);
    return path.join(this.tmpDir, `${randomBytes(6).toString('hex')}-${safe}`);
  }

  async clearTemp(): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  /** Writes JSON atomically (temp file + rename) so that a crash never leaves half a record. */
  async writeJson(name: string, data: unknown): Promise<void> {
    const file = path.join(this.stateDir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeAtomically(file, JSON.stringify(data, null, 2) + '\n');
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.stateDir, name), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** One small result as a plain file (Argo reads it with valueFrom.path). */
  async writeResult(name: string, value: string, extraDir?: string): Promise<void> {
    for (const dir of extraDir ? [this.resultsDir, extraDir] : [this.resultsDir]) {
      await mkdir(dir, { recursive: true });
      await writeAtomically(path.join(dir, name), value);
    }
  }

  /** Removes results of an earlier run, so that a step that fails now leaves none of them behind. */
  async clearResults(names: readonly string[]): Promise<void> {
    for (const name of names) await rm(path.join(this.resultsDir, name), { force: true });
  }

  async readResult(name: string): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.resultsDir, name), 'utf8');
    } catch {
      return undefined;
    }
  }
}
