// Files that appear whole or not at all: written to a temp name, then renamed. A failed write (a
// full disk) removes its temp file, so a re-run with more space starts clean.
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';

/** Writes `tmp`, then renames it to `file`; a failed write leaves no temp file behind. */
export async function writeThenRename(tmp: string, data: Buffer | string, file: string): Promise<void> {
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes `data` to a temp file beside `file`, then renames it. */
export async function writeAtomically(file: string, data: Buffer | string): Promise<void> {
  await writeThenRename(`${file}.${randomBytes(4).toString('hex')}.tmp`, data, file);
}
