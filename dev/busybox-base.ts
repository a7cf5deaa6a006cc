// DEV/TEST UTILITY, not part of the product: builds a tiny modelcar base image (a stand-in for
// docker.io/library/busybox, which cannot be pulled offline) as an OCI image layout, from the host's
// statically linked /bin/busybox (Debian busybox-static). One gzip layer with bin/busybox, bin/sh
// and the applets KServe's modelcar containers run (ln, sleep, ls, echo, mkdir, [), etc/passwd,
// etc/group and tmp/; a two-platform index (linux/amd64 and linux/arm64 both carry the host's
// binary, which is fine for tests). Deterministic: fixed mtimes, sorted entries, owner 0:0, gzip
// without name or time, so the same busybox binary always gives the same digests.
// Docker or OCI media types can be chosen, to exercise the Docker-to-OCI conversion of package.
import { pathToFileURL } from 'node:url';
import { readFile, rm } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { OciLayout, sha256Digest } from '../src/oci/layout.js';
import { MT } from '../src/oci/media-types.js';
import { encodeTarHeader, padded, type TarEntry } from '../src/oci/tar-layer.js';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../src/oci/types.js';

export const BUSYBOX_APPLETS = ['sh', 'ln', 'sleep', 'ls', 'echo', 'mkdir', '[', 'cat', 'test'] as const;
export const BUSYBOX_PLATFORMS: readonly Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];
const CREATED = '1970-01-01T00:00:00Z';

export interface BusyboxBaseOptions {
  /** `oci` (default) or `docker` (manifest list, schema 2 manifests, Docker config and layer types). */
  mediaTypes?: 'oci' | 'docker';
  /** The static busybox binary (default /bin/busybox). */
  busybox?: string;
  /** Tag in index.json (default latest). */
  tag?: string;
}

export interface BusyboxBase {
  dir: string;
  /** The root: an index (OCI) or a manifest list (Docker). */
  indexDigest: string;
  index: Descriptor;
  /** Per platform, in BUSYBOX_PLATFORMS order. */
  manifests: Descriptor[];
  configs: Descriptor[];
  layer: Descriptor;
  /** sha256 of the uncompressed layer tar. */
  diffId: string;
  /** Image config fields every platform shares (Env, Cmd), for tests that check they survive. */
  config: Record<string, unknown>;
  history: Array<{ created: string; created_by: string }>;
}

function entryBytes(entry: TarEntry, data?: Buffer): Buffer[] {
  const parts = [encodeTarHeader(entry)];
  if (data && data.length > 0) parts.push(data, Buffer.alloc(padded(data.length) - data.length));
  return parts;
}

/** The rootfs tar: directories, busybox, applet symlinks, /etc files; sorted by name. */
async function rootfsTar(busyboxPath: string): Promise<Buffer> {
  const busybox = await readFile(busyboxPath);
  const passwd = Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  const group = Buffer.from('root:x:0:\nnobody:x:65534:\n');
  const items: Array<{ entry: TarEntry; data?: Buffer }> = [
    { entry: { name: 'bin/', type: 'dir', mode: 0o755 } },
    { entry: { name: 'bin/busybox', type: 'file', mode: 0o755, size: busybox.length }, data: busybox },
    ...BUSYBOX_APPLETS.map((a) => ({ entry: { name: `bin/${a}`, type: 'symlink' as const, mode: 0o777, linkname: 'busybox' } })),
    { entry: { name: 'etc/', type: 'dir', mode: 0o755 } },
    { entry: { name: 'etc/group', type: 'file', mode: 0o644, size: group.length }, data: group },
    { entry: { name: 'etc/passwd', type: 'file', mode: 0o644, size: passwd.length }, data: passwd },
    { entry: { name: 'root/', type: 'dir', mode: 0o700 } },
    { entry: { name: 'tmp/', type: 'dir', mode: 0o1777 } },
  ];
  items.sort((a, b) => Buffer.compare(Buffer.from(a.entry.name), Buffer.from(b.entry.name)));
  return Buffer.concat([...items.flatMap((i) => entryBytes(i.entry, i.data)), Buffer.alloc(1024)]);
}

/**
 * Writes the busybox base image into a fresh layout at `dir` (an existing one is replaced) and
 * tags its root (default `latest`).
 */
export async function buildBusyboxBase(dir: string, opts: BusyboxBaseOptions = {}): Promise<BusyboxBase> {
  const docker = opts.mediaTypes === 'docker';
  const types = docker
    ? { index: MT.dockerManifestList, manifest: MT.dockerManifest, config: MT.dockerConfig, layer: MT.dockerLayerTarGzip }
    : { index: MT.ociIndex, manifest: MT.ociManifest, config: MT.ociConfig, layer: MT.ociLayerTarGzip };
  await rm(dir, { recursive: true, force: true });
  const layout = await new OciLayout(dir).init();

  const tar = await rootfsTar(opts.busybox ?? '/bin/busybox');
  const diffId = sha256Digest(tar);
  // zlib's gzip header carries no name and mtime 0: the same tar always gives the same blob.
  const layer = await layout.writeBlobBytes(gzipSync(tar, { level: 9 }), types.layer);
  const shared = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };
  const history = [{ created: CREATED, created_by: 'model-sync dev busybox-base (Debian busybox-static)' }];

  const manifests: Descriptor[] = [];
  const configs: Descriptor[] = [];
  for (const platform of BUSYBOX_PLATFORMS) {
    const configDoc: ImageConfig = {
      created: CREATED,
      architecture: platform.architecture,
      os: platform.os,
      config: shared,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history,
    };
    const config = await layout.writeJsonBlob(configDoc, types.config);
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: types.manifest, config, layers: [layer] };
    const written = await layout.writeJsonBlob(manifest, types.manifest, { platform });
    configs.push(config);
    manifests.push(written);
  }
  const index = await layout.writeJsonBlob({ schemaVersion: 2, mediaType: types.index, manifests }, types.index);
  await layout.tag(opts.tag ?? 'latest', index);
  return { dir, indexDigest: index.digest, index, manifests, configs, layer, diffId, config: shared, history };
}

// Run directly: node --import tsx dev/busybox-base.ts DIR [--docker]  (an offline base image)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node --import tsx dev/busybox-base.ts DIR [--docker]\n');
    process.exit(2);
  }
  const base = await buildBusyboxBase(dir, { mediaTypes: process.argv.includes('--docker') ? 'docker' : 'oci' });
  process.stdout.write(`busybox base image: oci:${base.dir}:latest (${base.indexDigest})\n`);
}
