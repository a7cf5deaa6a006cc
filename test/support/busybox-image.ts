// A tiny busybox base image for tests (no image can be pulled from the internet here): Debian's
// statically linked /bin/busybox with /bin/<applet> links, /etc/passwd, empty /models and /tmp, as
// one gzip layer, in a two-platform index. Reproducible: fixed mtime, sorted entries, uid/gid 0.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { OciLayout } from '../../src/oci/layout.js';
import { MT } from '../../src/oci/media-types.js';
import type { Descriptor, Platform } from '../../src/oci/types.js';
import { tarball, type TarEntry } from './oci-images.js';

const run = promisify(execFile);
const BUSYBOX = '/bin/busybox';

export function busyboxAvailable(): boolean {
  return existsSync(BUSYBOX);
}

/** Writes the base image into `layout`, tagged `tag`; returns the index descriptor. */
export async function writeBusyboxBase(
  layout: OciLayout,
  tag = 'latest',
  platforms: Platform[] = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ],
): Promise<Descriptor> {
  await layout.init();
  const applets = (await run(BUSYBOX, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox' && !a.includes('/'));
  const entries: TarEntry[] = [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: await readFile(BUSYBOX), mode: 0o755 },
    ...applets.sort().map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mode: 0o777 })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/group', data: 'root:x:0:\nnobody:x:65534:\n' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { name: 'models/', type: 'dir' },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
  ];
  const tar = tarball(entries);
  const diffId = 'sha256:' + createHash('sha256').update(tar).digest('hex');
  const layer = await layout.writeBlobBytes(gzipSync(tar, { level: 9 }), MT.ociLayerTarGzip);
  const manifests: Descriptor[] = [];
  for (const platform of platforms) {
    const config = await layout.writeJsonBlob(
      {
        created: '1970-01-01T00:00:00Z',
        architecture: platform.architecture,
        os: platform.os,
        config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test busybox base (Debian busybox-static)' }],
      },
      MT.ociConfig,
    );
    manifests.push(await layout.writeJsonBlob({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [layer] }, MT.ociManifest, { platform }));
  }
  const index = await layout.writeJsonBlob({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }, MT.ociIndex);
  await layout.tag(tag, index);
  return index;
}
