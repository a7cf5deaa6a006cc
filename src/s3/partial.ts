// The small record beside a partial ranged download (<file>.json): which object it is (ETag, size)
// and how it was split (part size), and per part how many bytes from its start are on disk. A run
// killed with SIGKILL leaves both; the next run with the same ETag, size and part size asks only
// for the missing bytes (Range), and anything else starts the file over. The record is written
// (temp + rename) only after the bytes it names were written, so it never claims more than the
// file holds after a process kill. (After a power loss the page cache may not have reached the
// disk: the sha256 is then of what the disk holds, as for any file.)
import { readFile, rename, rm, writeFile } from 'node:fs/promises';

export interface PartialRecord {
  etag: string;
  size: number;
  partSize: number;
  /** Bytes on disk from the start of each part. */
  done: number[];
}

export async function readPartial(recordFile: string): Promise<PartialRecord | undefined> {
  const text = await readFile(recordFile, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as PartialRecord;
    const valid = typeof r.etag === 'string' && Number.isSafeInteger(r.size) && Number.isSafeInteger(r.partSize) && Array.isArray(r.done) && r.done.every((n) => Number.isSafeInteger(n) && n >= 0);
    return valid ? r : undefined;
  } catch {
    return undefined; // a torn or foreign file: start over
  }
}

/** Least time between two writes of the record while bytes keep arriving. */
const SAVE_INTERVAL_MS = 500;

/** Writes the record as parts progress: at most one write in flight, the newest state next. */
export class PartialSaver {
  /** The live per-part counts (copied only when written: a large object has thousands of parts). */
  private latest: readonly number[] | undefined;
  private writing: Promise<void> | undefined;
  private lastWrite = 0;
  private removed = false;

  constructor(
    private readonly recordFile: string,
    private readonly object: Omit<PartialRecord, 'done'>,
  ) {}

  /** Part progress now on disk; `done` is read again when the record is written. */
  note(done: readonly number[]): void {
    this.latest = done;
    if (!this.writing && Date.now() - this.lastWrite >= SAVE_INTERVAL_MS) this.writing = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.latest && !this.removed) {
      const done = [...this.latest];
      this.latest = undefined;
      this.lastWrite = Date.now();
      const temp = `${this.recordFile}.tmp`;
      await writeFile(temp, JSON.stringify({ ...this.object, done } satisfies PartialRecord));
      await rename(temp, this.recordFile);
      if (this.latest) await new Promise((r) => setTimeout(r, SAVE_INTERVAL_MS));
    }
    this.writing = undefined;
  }

  /** Writes what is noted but not saved yet (a run stopping on an error keeps its progress). */
  async flush(): Promise<void> {
    await this.writing?.catch(() => undefined);
    if (this.latest && !this.removed) await (this.writing = this.loop()).catch(() => undefined);
  }

  /** The download is complete or must start over: no record. */
  async remove(): Promise<void> {
    this.removed = true;
    await this.writing?.catch(() => undefined);
    await rm(this.recordFile, { force: true });
    await rm(`${this.recordFile}.tmp`, { force: true });
  }
}

/** Removes a partial download and its record. */
export async function discardPartial(file: string, recordFile: string): Promise<void> {
  await rm(file, { force: true });
  await rm(recordFile, { force: true });
  await rm(`${recordFile}.tmp`, { force: true });
}
