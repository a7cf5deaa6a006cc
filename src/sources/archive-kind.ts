// Whether a downloaded file is a tar (plain or gzip), a zip, or a plain file: by its name first
// (as upstream does), else by Content-Type. A mismatch between the two only warns.
import type { Logger } from '../log.js';

export type ArchiveKind = 'tar' | 'zip' | 'file';

const TAR_TYPES = new Set(['application/x-tar', 'application/tar', 'application/x-gtar', 'application/x-compressed-tar', 'application/x-tgz']);
const GZIP_TYPES = new Set(['application/gzip', 'application/x-gzip', 'application/x-compressed']);
const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed', 'application/x-zip']);

export function kindByName(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.tar') || n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar';
  if (n.endsWith('.zip')) return 'zip';
  return undefined;
}

export function kindByContentType(contentType: string | undefined, name: string): ArchiveKind | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (TAR_TYPES.has(type)) return 'tar';
  if (ZIP_TYPES.has(type)) return 'zip';
  // gzip alone may be one compressed file (model.bin.gz): a tarball only when the name says nothing
  if (GZIP_TYPES.has(type) && !/\.[A-Za-z0-9]{1,5}$/.test(name)) return 'tar';
  return undefined;
}

/**
 * `name` is the last path segment; `queryNames` are query values that look like file names
 * (upstream looks at the query when the path has no extension).
 */
export function archiveKind(name: string, queryNames: string[], contentType: string | undefined, log: Logger): ArchiveKind {
  const byName = kindByName(name) ?? queryNames.map(kindByName).find((k) => k !== undefined);
  const byType = kindByContentType(contentType, name);
  if (byName && byType && byName !== byType) {
    log.warn({ name, contentType }, `Content-Type says ${byType} but the name says ${byName}; going by the name`);
  }
  return byName ?? byType ?? 'file';
}
