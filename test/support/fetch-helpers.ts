// Small helpers shared by the fetch tests: reading model/, the inventory and JSON log lines.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every file under `dir` as relative path -> contents (links followed). */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p, r);
      else out.set(r, await readFile(p));
    }
  };
  await walk(dir, '');
  return out;
}

export interface InventoryJson {
  source: string;
  files: Array<{ path: string; size: number; sha256: string }>;
  totalBytes: number;
}

export async function readInventory(storage: string): Promise<InventoryJson> {
  return JSON.parse(await readFile(path.join(storage, '.model-sync/inventory.json'), 'utf8')) as InventoryJson;
}

export function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Files anywhere under `dir` (to prove nothing was written outside the workspace). */
export async function listAll(dir: string): Promise<string[]> {
  return [...(await readTree(dir)).keys()].sort();
}
