// The benchmark's data sets, random (incompressible) bytes. `large`: a few weight shards plus small
// config/tokenizer files (one in a sub-folder), so bulk throughput shows. `many-files`: thousands of
// files of 100 KiB-1 MiB in sub-folders, so per-file overheads show.
import { randomFill } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const fillRandom = promisify(randomFill);
const CHUNK = 4 * 1024 * 1024;

export interface Dataset {
  dir: string;
  files: { path: string; size: number }[];
  totalBytes: number;
}

export type DatasetFile = { path: string; size: number };

export function largeProfile(totalMiB: number, shards: number): DatasetFile[] {
  const files: DatasetFile[] = [];
  const smallFiles: [string, number][] = [
    ['config.json', 2_048],
    ['generation_config.json', 512],
    ['tokenizer/tokenizer.json', 64 * 1024],
    ['tokenizer/tokenizer_config.json', 4_096],
    ['tokenizer/special_tokens_map.json', 1_024],
    ['README.md', 8_192],
    ['model.safetensors.index.json', 16 * 1024],
  ];
  const shardBytes = Math.floor((totalMiB * 1024 * 1024) / shards);
  for (let i = 1; i <= shards; i++) {
    const name = `model-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    files.push({ path: name, size: shardBytes });
  }
  for (const [name, size] of smallFiles) files.push({ path: name, size });
  return files;
}

/** `count` files with sizes spread evenly over [minBytes, maxBytes] (shuffled), 100 to a folder. */
export function manyFilesProfile(count: number, minBytes: number, maxBytes: number): DatasetFile[] {
  const files: DatasetFile[] = [];
  const step = count > 1 ? (maxBytes - minBytes) / (count - 1) : 0;
  for (let i = 0; i < count; i++) {
    // 7919 is prime, so i -> (i * 7919) % count is a permutation when count is not a multiple of it.
    const rank = count % 7919 === 0 ? i : (i * 7919) % count;
    files.push({ path: `shard-${String(Math.floor(i / 100)).padStart(3, '0')}/part-${String(i).padStart(5, '0')}.bin`, size: Math.round(minBytes + rank * step) });
  }
  return files;
}

export async function generateDataset(dir: string, files: DatasetFile[]): Promise<Dataset> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (const f of files) {
    const target = path.join(dir, f.path);
    await mkdir(path.dirname(target), { recursive: true });
    if (f.size <= CHUNK) {
      await fillRandom(buffer);
      await writeFile(target, buffer.subarray(0, f.size));
      continue;
    }
    const handle = await open(target, 'w');
    try {
      for (let left = f.size; left > 0; ) {
        const n = Math.min(left, CHUNK);
        await fillRandom(buffer);
        await handle.write(buffer, 0, n);
        left -= n;
      }
    } finally {
      await handle.close();
    }
  }
  return { dir, files, totalBytes: files.reduce((sum, f) => sum + f.size, 0) };
}
