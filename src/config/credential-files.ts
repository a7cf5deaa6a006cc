// Mounted-Secret folders the upstream job reads: S3 connection files and a URI file.
// Values are trimmed (a Secret created from a file often ends with a newline).
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** S3 connection files, first name found wins. Keys are the suffix after <side>-aws-. */
const S3_FILES: Record<string, string[]> = {
  'access-key-id': ['AWS_ACCESS_KEY_ID'],
  'secret-access-key': ['AWS_SECRET_ACCESS_KEY'],
  region: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
  endpoint: ['AWS_ENDPOINT_URL', 'AWS_S3_ENDPOINT'],
  bucket: ['AWS_BUCKET', 'AWS_S3_BUCKET'],
};

function assertFolder(folder: string, describe: string): void {
  let isDir = false;
  try {
    isDir = statSync(folder).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new ConfigError(`${describe}: credentials folder not found: ${folder}`);
}

function readTrimmed(file: string): string | undefined {
  try {
    const value = readFileSync(file, 'utf8').trim();
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}

/** Returns values keyed by the S3 parameter suffix (access-key-id, bucket, ...). */
export function readS3Folder(folder: string, describe: string): Record<string, string> {
  assertFolder(folder, describe);
  const out: Record<string, string> = {};
  for (const [suffix, names] of Object.entries(S3_FILES)) {
    for (const name of names) {
      const value = readTrimmed(path.join(folder, name));
      if (value !== undefined) {
        out[suffix] = value;
        break;
      }
    }
  }
  return out;
}

export function readUriFolder(folder: string, describe: string): string {
  assertFolder(folder, describe);
  const file = path.join(folder, 'URI');
  const value = readTrimmed(file);
  if (value === undefined) throw new ConfigError(`${describe}: URI credential file not found: ${file}`);
  return value;
}
