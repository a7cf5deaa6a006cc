// Model files as one uncompressed tar layer (the modelcar format): an entry `models/<relpath>` per
// file, in the order given (path order), no directory entries, uid/gid 0, empty uname/gname, mode
// 0664 and a FIXED mtime, so that the same files always give the same layer digest. GNU tar format, like the upstream packer (olot): names
// longer than 100 bytes go in a GNU long-name record, and sizes of 8 GiB and more in the binary
// (base-256) size field, which every tar reader we target understands (GNU tar, Go archive/tar as
// in umoci/containerd, Python tarfile) while some layer indexers ignore a PAX `size=`.
//
// The layer bytes are a pure function of the members' (relative path, file bytes): for each member
// header + file + padding, then the end-of-archive blocks. A layer of one file is therefore
// exactly the one-file layer of earlier versions (same digest). The package step only hashes
// layers (layer-hasher.ts) and never writes a second copy of the model; push (and any tool that
// needs a blob file) streams them again from the model files.
import { open, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ModelSyncError } from '../errors.js';

const BLOCK = 512;
/** Fixed mtime of every entry (1970-01-01T00:00:00Z): reproducible layer digests. */
export const TAR_LAYER_MTIME = 0;
/** Mode of model files, readable by any UID the modelcar runs as (as upstream). */
export const TAR_LAYER_FILE_MODE = 0o664;
/** Folder inside the image that holds the model (KServe's modelcar convention). */
export const MODEL_ROOT_IN_IMAGE = 'models';
/** Largest size the octal size field holds (8 GiB - 1); larger sizes use base-256. */
const MAX_OCTAL_SIZE = 0o77777777777;
const READ_CHUNK = 1024 * 1024;

export type TarEntryType = 'file' | 'dir' | 'symlink';

export interface TarEntry {
  /** Entry name as stored (no leading slash). */
  name: string;
  type: TarEntryType;
  mode: number;
  /** Content size for files; 0 otherwise. */
  size?: number;
  linkname?: string;
  mtime?: number;
}

const TYPE_FLAG: Record<TarEntryType, string> = { file: '0', dir: '5', symlink: '2' };

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  // width-1 octal digits and a NUL, as GNU tar writes them.
  block.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

function writeSize(block: Buffer, value: number): void {
  if (value <= MAX_OCTAL_SIZE) return writeOctal(block, 124, 12, value);
  // GNU base-256: high bit of the first byte set, then the value big-endian in the other 11 bytes.
  let v = BigInt(value);
  for (let i = 11; i >= 1; i--) {
    block[124 + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[124] = 0x80;
}

function headerBlock(nameBytes: Buffer, type: string, mode: number, size: number, mtime: number, linkname = ''): Buffer {
  const block = Buffer.alloc(BLOCK);
  nameBytes.copy(block, 0, 0, Math.min(nameBytes.length, 100));
  writeOctal(block, 100, 8, mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeSize(block, size);
  writeOctal(block, 136, 12, mtime);
  block.write(type, 156, 1, 'ascii');
  if (linkname) block.write(linkname, 157, 100, 'utf8');
  block.write('ustar  \0', 257, 8, 'ascii'); // GNU magic + version; uname/gname stay empty
  block.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return block;
}

/** Header blocks of one entry: a GNU long-name record first when the name exceeds 100 bytes. */
export function encodeTarHeader(entry: TarEntry): Buffer {
  const name = Buffer.from(entry.name, 'utf8');
  const linkname = entry.linkname ?? '';
  if (Buffer.byteLength(linkname) > 100) throw new Error(`tar link target longer than 100 bytes: ${linkname}`);
  const mtime = entry.mtime ?? TAR_LAYER_MTIME;
  const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
  const main = headerBlock(name, TYPE_FLAG[entry.type], entry.mode, size, mtime, linkname);
  if (name.length <= 100) return main;
  const longData = Buffer.alloc(padded(name.length + 1)); // the name, NUL-terminated, block-padded
  name.copy(longData);
  const longHeader = headerBlock(Buffer.from('./@LongLink'), 'L', 0o644, name.length + 1, 0);
  return Buffer.concat([longHeader, longData, main]);
}

/** Size rounded up to whole 512-byte blocks. */
export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Entry name of a model file: `models/<relpath>` (no leading slash, as tar stores it). */
export function modelEntryName(relPath: string): string {
  return `${MODEL_ROOT_IN_IMAGE}/${relPath}`;
}

/** The parts of a one-file layer that are not the file itself. */
export function tarLayerFraming(relPath: string, fileSize: number): { header: Buffer; trailer: Buffer; size: number } {
  const header = memberHeader(relPath, fileSize);
  // Padding to the block boundary, then the two zero blocks that end the archive.
  const trailer = Buffer.alloc(padded(fileSize) - fileSize + 2 * BLOCK);
  return { header, trailer, size: header.length + fileSize + trailer.length };
}

function memberHeader(relPath: string, fileSize: number): Buffer {
  return encodeTarHeader({ name: modelEntryName(relPath), type: 'file', mode: TAR_LAYER_FILE_MODE, size: fileSize });
}

/** One member of a layer: a model file stored as `models/<path>`. */
export interface TarMember {
  /** Slash-separated path relative to the model folder. */
  path: string;
  fileSize: number;
}

/** A run of layer bytes: framing held in memory, or the bytes of member `member`'s file. */
export type TarSegment = { offset: number; bytes: Buffer } | { offset: number; member: number; size: number };

/**
 * The layer of `members` (in that order) as segments: per member header, file, padding; then
 * the two zero blocks. For one member: header, file, padding + end blocks, as tarLayerFraming.
 */
export function tarLayerSegments(members: readonly TarMember[]): { segments: TarSegment[]; size: number } {
  if (members.length === 0) throw new Error('a tar layer needs at least one member');
  const segments: TarSegment[] = [];
  let offset = 0;
  const push = (seg: { bytes: Buffer } | { member: number; size: number }) => {
    const length = 'bytes' in seg ? seg.bytes.length : seg.size;
    if (length === 0 && 'bytes' in seg) return; // a file segment stays, even empty: it is hashed
    segments.push({ offset, ...seg });
    offset += length;
  };
  members.forEach((m, i) => {
    push({ bytes: memberHeader(m.path, m.fileSize) });
    push({ member: i, size: m.fileSize });
    const last = i === members.length - 1;
    push({ bytes: Buffer.alloc(padded(m.fileSize) - m.fileSize + (last ? 2 * BLOCK : 0)) });
  });
  return { segments, size: offset };
}

/** Size of the layer of `members`. */
export function tarLayerSize(members: readonly TarMember[]): number {
  let size = 2 * BLOCK;
  for (const m of members) size += memberHeaderSize(m.path) + padded(m.fileSize);
  return size;
}

/** Bytes of a member's header blocks: one, or three and more with a GNU long-name record. */
function memberHeaderSize(relPath: string): number {
  const nameBytes = Buffer.byteLength(modelEntryName(relPath), 'utf8');
  return nameBytes <= 100 ? BLOCK : 2 * BLOCK + padded(nameBytes + 1);
}

export interface TarLayerFileInfo {
  /** Slash-separated path relative to the model folder. */
  path: string;
  fileSize: number;
  /** `sha256:<hex>` of the file content (olot.layer.content.digest). */
  fileSha256: string;
}

export interface TarLayerGroupInfo {
  /** Layer digest (= diff_id: the layer is not compressed). */
  digest: string;
  /** Layer size in bytes. */
  size: number;
  /** The members, in layer order. */
  files: TarLayerFileInfo[];
}

export interface TarLayerInfo extends TarLayerFileInfo {
  /** Layer digest (= diff_id: the layer is not compressed). */
  digest: string;
  /** Layer size in bytes. */
  size: number;
}

function changedWhileReading(file: string, expected: number, actual: number): ModelSyncError {
  return new ModelSyncError('integrity', `model file ${file} changed while it was read (${actual} bytes read, ${expected} expected): run fetch or package again`);
}

/** One member file of a layer to stream. */
export interface TarMemberSource extends TarMember {
  /** Absolute path of the model file. */
  file: string;
  /** Opens the file (default: by its path); the workspace's layers open it only inside model/. */
  openFile?: () => Promise<FileHandle>;
}

export interface TarLayerSource {
  /** In layer order. */
  members: readonly TarMemberSource[];
  /** Layer digest, verified when the whole layer is read. */
  digest: string;
  /**
   * A ModelPack raw layer: the one member's file alone, with no tar framing (its digest is the
   * file's sha256).
   */
  raw?: boolean;
}

/** The segments of a layer of `members`: the tar framing around the files, or a raw layer's one file. */
export function layerSegments(members: readonly TarMember[], raw = false): { segments: TarSegment[]; size: number } {
  if (!raw) return tarLayerSegments(members);
  if (members.length !== 1) throw new Error('a raw layer holds exactly one file');
  const size = members[0]!.fileSize;
  return { segments: [{ offset: 0, member: 0, size }], size };
}

/**
 * A readable stream of the layer's bytes (or of the inclusive byte range start..end, as
 * fs.createReadStream takes it), made on the fly from the model files. A whole read is verified
 * against the digest; every file read is checked to still have its recorded size.
 */
export function openTarLayerStream(source: TarLayerSource, range?: { start: number; end: number }): Readable {
  const { segments, size } = layerSegments(source.members, source.raw);
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? size - 1, size - 1);
  if (start < 0 || start > end + 1) throw new RangeError(`invalid layer range ${start}-${end} of ${size} bytes`);
  const verify = start === 0 && end === size - 1;
  const what = source.members.length === 1 ? `model file ${source.members[0]!.file}` : `the ${source.members.length} model files of layer ${source.digest}`;

  async function* bytes(): AsyncGenerator<Buffer> {
    const hash = verify ? createHash('sha256') : undefined;
    const emit = (chunk: Buffer): Buffer => {
      hash?.update(chunk);
      return chunk;
    };
    for (const seg of segments) {
      const segSize = 'bytes' in seg ? seg.bytes.length : seg.size;
      const from = Math.max(start, seg.offset) - seg.offset;
      const to = Math.min(end + 1, seg.offset + segSize) - seg.offset; // exclusive
      if (from >= to) continue;
      if ('bytes' in seg) {
        yield emit(seg.bytes.subarray(from, to));
        continue;
      }
      const member = source.members[seg.member]!;
      const handle = await (member.openFile ?? (() => open(member.file, 'r')))();
      try {
        const actual = (await handle.stat()).size;
        if (actual !== member.fileSize) {
          throw new ModelSyncError('integrity', `model file ${member.file} has ${actual} bytes but ${member.fileSize} when it was packaged: run package again`);
        }
        let position = from;
        while (position < to) {
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, to - position));
          const { bytesRead } = await handle.read(buf, 0, buf.length, position);
          if (bytesRead === 0) throw changedWhileReading(member.file, member.fileSize, position);
          position += bytesRead;
          yield emit(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
    }
    if (hash) {
      const digest = 'sha256:' + hash.digest('hex');
      if (digest !== source.digest) {
        throw new ModelSyncError('integrity', `${what} no longer give${source.members.length === 1 ? 's' : ''} layer ${source.digest} (got ${digest}): ${source.members.length === 1 ? 'it' : 'one of them'} changed after package; run package again`);
      }
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}
