// Small OCI images for the registry tests: hand-made tar layers (a tiny ustar writer, so tests can
// also make hostile entries that tar tools would refuse), images and multi-platform indexes
// written into an OciLayout, and a logger that keeps its lines. Tests observe what a client sends
// through test/support/fault-proxy.ts.
import { randomBytes } from 'node:crypto';
import { OciLayout, sha256Digest } from '../../src/oci/layout.js';
import { MT } from '../../src/oci/media-types.js';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../../src/oci/types.js';

export interface TarEntry {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  linkname?: string;
  mode?: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** An uncompressed ustar archive of `entries` (names up to 100 bytes). */
export function tarball(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const type = e.type ?? 'file';
    const size = type === 'file' ? data.length : 0;
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write(octal(e.mode ?? (type === 'dir' ? 0o755 : 0o664), 8), 100, 'ascii');
    h.write(octal(0, 8), 108, 'ascii');
    h.write(octal(0, 8), 116, 'ascii');
    h.write(octal(size, 12), 124, 'ascii');
    h.write(octal(1_700_000_000, 12), 136, 'ascii');
    h.write('        ', 148, 'ascii');
    h.write({ file: '0', hardlink: '1', symlink: '2', dir: '5' }[type], 156, 'ascii');
    if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(octal(sum, 7) + ' ', 148, 'ascii');
    parts.push(h);
    if (size > 0) {
      parts.push(data);
      parts.push(Buffer.alloc((512 - (size % 512)) % 512));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface LayerSpec {
  data: Buffer;
  mediaType?: string;
  annotations?: Record<string, string>;
}

export interface ImageSpec {
  layers: LayerSpec[];
  /** One manifest per platform, sharing the layers; without platforms a single manifest is the root. */
  platforms?: Platform[];
  configMediaType?: string;
  config?: Record<string, unknown>;
  artifactType?: string;
  /** Tag written into index.json (default latest). */
  tag?: string;
}

/** Writes an image into `layout` and tags its root; returns the root descriptor. */
export async function writeImage(layout: OciLayout, spec: ImageSpec): Promise<Descriptor> {
  await layout.init();
  const layers: Descriptor[] = [];
  for (const l of spec.layers) {
    layers.push(await layout.writeBlobBytes(l.data, l.mediaType ?? MT.ociLayerTar, l.annotations ? { annotations: l.annotations } : {}));
  }
  const manifestFor = async (platform?: Platform): Promise<Descriptor> => {
    const configDoc = spec.config ?? {
      ...(platform ? { architecture: platform.architecture, os: platform.os } : { architecture: 'amd64', os: 'linux' }),
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    };
    const config = await layout.writeJsonBlob(configDoc, spec.configMediaType ?? MT.ociConfig);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      ...(spec.artifactType ? { artifactType: spec.artifactType } : {}),
      config,
      layers,
    };
    return layout.writeJsonBlob(manifest, MT.ociManifest, platform ? { platform } : {});
  };
  let root: Descriptor;
  if (spec.platforms && spec.platforms.length > 0) {
    const manifests: Descriptor[] = [];
    for (const p of spec.platforms) manifests.push(await manifestFor(p));
    const index: ImageIndex = { schemaVersion: 2, mediaType: MT.ociIndex, manifests };
    root = await layout.writeJsonBlob(index, MT.ociIndex);
  } else {
    root = await manifestFor();
  }
  await layout.tag(spec.tag ?? 'latest', root);
  return root;
}

/** An image of `count` random-content layers (distinct digests), two platforms. */
export async function writeRandomImage(layout: OciLayout, count: number, size: number, tag = 'latest'): Promise<Descriptor> {
  const layers = Array.from({ length: count }, () => ({ data: randomBytes(size) }));
  return writeImage(layout, { layers, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], tag });
}

export { sha256Digest };

/** A minimal logger that keeps every line (pino-compatible surface used by src/oci). */
export function memoryLogger(): { log: import('../../src/log.js').Logger; lines: Array<{ level: string; msg: string; [k: string]: unknown }> } {
  const lines: Array<{ level: string; msg: string; [k: string]: unknown }> = [];
  const make = (level: string) => (obj: unknown, msg?: string) => {
    if (typeof obj === 'string') lines.push({ level, msg: obj });
    else lines.push({ level, msg: msg ?? '', ...(obj as object) });
  };
  const log = { info: make('info'), warn: make('warn'), debug: make('debug'), error: make('error'), trace: make('trace'), fatal: make('fatal'), child: () => log } as unknown as import('../../src/log.js').Logger;
  return { log, lines };
}
