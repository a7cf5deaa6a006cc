// A full volume, for real: the built CLI runs on a tmpfs of a few MiB mounted in a private mount
// namespace (`unshare -m`, root only). A model larger than the volume fails with exit 8 (noSpace,
// never retried) before any byte is downloaded when the source announces its size (S3 listing,
// OCI manifest), and mid-way (ENOSPC) when it does not (HTTP without Content-Length); either way
// the one-line message names the folder, the bytes needed when known and the bytes free, no temp
// file is left, and the same fetch on a bigger volume succeeds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { EXIT, exitCodeOf, ModelSyncError, NON_RETRYABLE_EXIT_CODES } from '../src/errors.js';
import { asNoSpace } from '../src/workspace/disk.js';
import { withMargin } from '../src/steps/preflight-path.js';
import { MT } from '../src/oci/media-types.js';
import { OciLayout } from '../src/oci/layout.js';
import { CLI, cleanEnv, runCli, tempDir } from '../dev/cli.js';
import { startS3Server, type S3Server } from '../dev/s3-server.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { tarball, writeImage, writeRandomImage } from './support/oci-images.js';
import { Workspace } from '../src/workspace/workspace.js';
import { writeRecord } from '../src/workspace/records.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { gzipSync } from 'node:zlib';
import { s3FetchEnv } from './support/s3-fetch-env.js';

const MiB = 1024 * 1024;

function unavailable(): string | false {
  if (process.getuid?.() !== 0) return 'needs root: a tmpfs is mounted in a private mount namespace (unshare -m)';
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt'], { encoding: 'utf8' });
  if (probe.error) return 'unshare is missing (util-linux)';
  if (probe.status !== 0) return `unshare -m cannot mount a tmpfs here: ${probe.stderr.trim()}`;
  return false;
}
const skip = unavailable();

interface VolumeRun {
  code: number;
  stderr: string;
  termination: string;
  /** Files left under the workspace's .model-sync/ that are temp files (tmp/ or *.tmp), and every file of model/. */
  tempFiles: string[];
  modelFiles: string[];
  /** Temp files (.tmp-*, *.tmp) anywhere on the mounted volume. */
  volumeTempFiles: string[];
}

/**
 * Runs `model-sync <step>` (fetch) with the workspace on a tmpfs of `sizeBytes` (mounted over `storage`
 * only inside the child's mount namespace); lists what the run left there before the mount goes.
 */
async function fetchOnVolume(work: string, sizeBytes: number, env: Record<string, string>, step = 'fetch', mountAt?: string): Promise<VolumeRun> {
  const storage = path.join(work, 'ws');
  const out = path.join(work, 'out');
  const volume = mountAt ?? storage;
  await mkdir(storage, { recursive: true });
  await mkdir(volume, { recursive: true });
  await mkdir(out, { recursive: true });
  const script = [
    `mount -t tmpfs -o size=${sizeBytes} tmpfs "$VOL" || exit 99`,
    `node "$CLI" "$STEP"; code=$?`,
    `(cd "$VOL" && find . -type f \\( -name ".tmp-*" -o -name "*.tmp" \\)) > "$OUT/volume-temp"`,
    `(cd "$WS/.model-sync" 2>/dev/null && find . -type f \\( -path "./tmp/*" -o -name "*.tmp" \\)) > "$OUT/temp"`,
    `(cd "$WS/model" 2>/dev/null && find . -type f) > "$OUT/model"`,
    `exit $code`,
  ].join('\n');
  const termination = path.join(out, 'termination-log');
  const child = spawn('unshare', ['-m', 'sh', '-c', script], {
    env: cleanEnv({ MODEL_SYNC_LOG_FORMAT: 'json', TERMINATION_MESSAGE_PATH: termination, WS: storage, VOL: volume, OUT: out, CLI, STEP: step, MODEL_SYNC_STORAGE_PATH: storage, ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  const lines = async (f: string) => (await readFile(path.join(out, f), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { code, stderr, termination: await readFile(termination, 'utf8').catch(() => ''), tempFiles: await lines('temp'), modelFiles: (await lines('model')).sort(), volumeTempFiles: await lines('volume-temp') };
}

/** needed and free as the message gives them. */
function bytesIn(message: string): { needed?: number; free: number } {
  const needed = /(\d+) bytes needed/.exec(message);
  const free = /(\d+) bytes free/.exec(message);
  assert.ok(free, `the message gives the free bytes: ${message}`);
  return { ...(needed ? { needed: Number(needed[1]) } : {}), free: Number(free[1]) };
}

const SETTING = '--storage-path / MODEL_SYNC_STORAGE_PATH';

it('exit code 8 (noSpace) is one a retry cannot fix', () => {
  assert.equal(EXIT.noSpace, 8);
  assert.ok(NON_RETRYABLE_EXIT_CODES.includes(EXIT.noSpace));
});

it('--help lists exit code 8', async () => {
  const r = await runCli(['fetch', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /8 no space left on the volume/);
});

it('ENOSPC and EDQUOT, also wrapped in another error, become one noSpace error naming the folder and its setting', async () => {
  const volume = { folder: '/tmp', setting: '--storage-path / MODEL_SYNC_STORAGE_PATH' };
  const quota = Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' });
  const wrapped = new ModelSyncError('internal', 'GET http://x/model.bin: EDQUOT disk quota exceeded', { cause: quota });
  const err = await asNoSpace(wrapped, volume, { bytes: 42 });
  assert.equal(exitCodeOf(err), EXIT.noSpace);
  assert.match((err as Error).message, /^no space left in \/tmp \(--storage-path \/ MODEL_SYNC_STORAGE_PATH\): 42 bytes needed, \d+ bytes free; give the workspace volume more space/);
  // A noSpace error already made closer to the fault (with more context) is kept as it is.
  const outer = new ModelSyncError('noSpace', 'no space left in /x; marked failed in Model Registry', { cause: err });
  assert.equal(await asNoSpace(outer, volume), outer);
  const other = Object.assign(new Error('EACCES'), { code: 'EACCES' });
  assert.equal(await asNoSpace(other, volume), other);
});

describe('a full volume (tmpfs under unshare -m)', { skip }, () => {
  const temps: string[] = [];
  let s3: S3Server;
  let proxy: FaultProxy;
  let web: http.Server;
  let webUrl = '';
  let webGets = 0;
  let files: TestHttpServer;
  // Half random, half zeros: about 6 MiB on the wire (it passes the check against 8 MiB), 12 MiB unpacked.
  const archive = gzipSync(tarball([{ name: 'weights/a.bin', data: randomBytes(6 * MiB) }, { name: 'weights/b.bin', data: Buffer.alloc(6 * MiB) }]));
  const objects = new Map<string, Buffer>([
    ['big/weights-1.bin', randomBytes(5 * MiB)],
    ['big/weights-2.bin', randomBytes(5 * MiB)],
  ]);
  const total = [...objects.values()].reduce((n, b) => n + b.length, 0);
  const unannounced = randomBytes(12 * MiB);

  before(async () => {
    s3 = await startS3Server('models');
    for (const [key, body] of objects) await s3.put(key, body);
    proxy = await startFaultProxy(s3.endpoint);
    // A web file sent chunked, with no Content-Length: its size is known only once it is all there.
    web = http.createServer((req, res) => {
      webGets++;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let offset = 0;
      const push = () => {
        while (offset < unannounced.length) {
          const chunk = unannounced.subarray(offset, offset + 256 * 1024);
          offset += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', push);
        }
        res.end();
      };
      push();
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/model.bin`;
    files = await startHttpServer();
    files.routes.set('/model.tar.gz', { body: archive, contentType: 'application/gzip' });
  });

  after(async () => {
    await proxy?.stop();
    await s3?.stop();
    await files?.stop();
    web?.closeAllConnections();
    await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
    for (const t of temps) await rm(t, { recursive: true, force: true });
  });

  async function work(): Promise<string> {
    const dir = await tempDir('ms-disk-');
    temps.push(dir);
    return dir;
  }

  it('S3: a model larger than the volume fails with exit 8 before any object is downloaded; a bigger volume takes it', async () => {
    const dir = await work();
    proxy.requests.length = 0;
    const env = s3FetchEnv(s3.bucket, proxy.url, path.join(dir, 'ws'), 'big');
    const r = await fetchOnVolume(dir, 8 * MiB, env);
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    const objectGets = proxy.requests.filter((q) => q.method === 'GET' && q.path.startsWith(`/${s3.bucket}/big/`));
    assert.deepEqual(objectGets.map((q) => q.path), [], 'no object body was asked for');
    assert.ok(proxy.requests.some((q) => q.method === 'GET' && q.url.includes('list-type=2')), 'the bucket was listed: ' + JSON.stringify(proxy.requests.map((q) => [q.method, q.url])));
    assert.match(r.termination, new RegExp(`^not enough space for this download in ${path.join(dir, 'ws')} \\(${SETTING}\\): \\d+ bytes needed, \\d+ bytes free; give the workspace volume more space`));
    const { needed, free } = bytesIn(r.termination);
    assert.equal(needed, total, 'needed is the listed size (nothing complete yet)');
    assert.ok(free <= 8 * MiB && free > 7 * MiB, `free is what the 8 MiB volume has: ${free}`);
    assert.deepEqual(r.modelFiles, []);
    assert.deepEqual(r.tempFiles, []);

    const bigger = await fetchOnVolume(dir, 16 * MiB, env);
    assert.equal(bigger.code, 0, bigger.stderr);
    assert.deepEqual(bigger.modelFiles, ['./weights-1.bin', './weights-2.bin']);
  });

  it('preflight: an S3 model larger than the volume fails with exit 8 before the registry is asked', async () => {
    const dir = await work();
    proxy.requests.length = 0;
    webGets = 0; // the web server stands in for the registry here: it must not be asked
    const registry = new URL(webUrl).origin;
    const env = {
      ...s3FetchEnv(s3.bucket, proxy.url, path.join(dir, 'ws'), 'big'),
      MODEL_SYNC_MODEL_UPLOAD_INTENT: 'update_artifact',
      MODEL_SYNC_MODEL_ARTIFACT_ID: '1',
      MODEL_SYNC_REGISTRY_SERVER_ADDRESS: registry,
      MODEL_SYNC_REGISTRY_IS_SECURE: 'false',
      MODEL_SYNC_DESTINATION_OCI_URI: '127.0.0.1:5000/models/test:1',
    };
    const r = await fetchOnVolume(dir, 8 * MiB, env, 'preflight');
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    // preflight asks for the listed size plus its margin (src/steps/preflight-path.ts).
    assert.match(r.termination, new RegExp(`^not enough space for this download in ${path.join(dir, 'ws')} \\(${SETTING}\\): ${withMargin(total)} bytes needed, \\d+ bytes free`));
    assert.equal(webGets, 0, 'the registry was not asked (nothing set to PENDING)');
    assert.deepEqual(proxy.requests.filter((q) => q.method === 'GET' && q.path.startsWith(`/${s3.bucket}/big/`)).map((q) => q.path), [], 'no object body was asked for');
  });

  it('HTTP without Content-Length: ENOSPC mid-way exits 8 with the folder and the free bytes, leaves no temp file; a bigger volume takes it', async () => {
    const dir = await work();
    webGets = 0;
    const env = { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: webUrl };
    const r = await fetchOnVolume(dir, 8 * MiB, env);
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    assert.equal(webGets, 1, 'a full disk is not retried');
    assert.match(r.termination, new RegExp(`^no space left in ${path.join(dir, 'ws')} \\(${SETTING}\\): \\d+ bytes free; give the workspace volume more space`));
    assert.doesNotMatch(r.termination, /unexpected error|ENOSPC/);
    const { free } = bytesIn(r.termination);
    assert.ok(free > 7 * MiB, `the partial download was removed, so the volume is free again: ${free}`);
    assert.deepEqual(r.tempFiles, [], 'no temp file is left');
    assert.deepEqual(r.modelFiles, []);

    const bigger = await fetchOnVolume(dir, 16 * MiB, env);
    assert.equal(bigger.code, 0, bigger.stderr);
    assert.deepEqual(bigger.modelFiles, ['./model.bin']);
  });

  it('an archive that unpacks past the volume: the check on its Content-Length passes, ENOSPC mid-way exits 8, no temp file; a bigger volume takes it', async () => {
    const dir = await work();
    files.requests.length = 0;
    const env = { MODEL_SYNC_SOURCE_TYPE: 'uri', MODEL_SYNC_SOURCE_URI: `${files.url}/model.tar.gz` };
    const r = await fetchOnVolume(dir, 8 * MiB, env);
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    assert.equal(files.requests.length, 1, 'a full disk is not retried');
    // Mid-way the lower bound (its Content-Length) said nothing: only the free bytes are given.
    assert.match(r.termination, new RegExp(`^no space left in ${path.join(dir, 'ws')} \\(${SETTING}\\): \\d+ bytes free; give`));
    assert.deepEqual(r.tempFiles, []);
    const bigger = await fetchOnVolume(dir, 16 * MiB, env);
    assert.equal(bigger.code, 0, bigger.stderr);
    assert.deepEqual(bigger.modelFiles, ['./weights/a.bin', './weights/b.bin']);
  });

  it('push to an oci: layout on a full volume exits 8 naming that folder and its setting, no temp blob left', async () => {
    const dir = await work();
    const storage = path.join(dir, 'ws');
    const desc = await writeRandomImage(new OciLayout(path.join(storage, 'image')), 3, 3 * MiB);
    const ws = await new Workspace(storage).init();
    // As package leaves it when every blob is a file in image/ (test/push-oci.test.ts does the same).
    await writeRecord(ws, 'package', { baseImage: 'test', baseDigest: desc.digest, indexDigest: desc.digest, mediaType: desc.mediaType, size: desc.size, layerBlobs: 'model-files', layers: [] });
    const target = path.join(dir, 'layout');
    const r = await fetchOnVolume(dir, 4 * MiB, { MODEL_SYNC_DESTINATION_OCI_URI: `oci:${target}:v1` }, 'push', target);
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    assert.match(r.termination, new RegExp(`^no space left in ${target} \\(--destination-oci-uri / MODEL_SYNC_DESTINATION_OCI_URI\\): \\d+ bytes free; give the volume of that folder more space`));
    assert.deepEqual(r.volumeTempFiles, [], 'no temp blob is left in the layout');
  });

  it('OCI: an image whose model layers exceed the volume fails with exit 8 before a layer is read', async () => {
    const dir = await work();
    const layout = new OciLayout(path.join(dir, 'image'));
    const layer = tarball([{ name: 'models/weights.bin', data: randomBytes(10 * MiB) }]);
    await writeImage(layout, { layers: [{ data: layer, mediaType: MT.ociLayerTar }] });
    const env = { MODEL_SYNC_SOURCE_TYPE: 'oci', MODEL_SYNC_SOURCE_OCI_URI: `oci:${layout.dir}:latest` };
    const r = await fetchOnVolume(dir, 8 * MiB, env);
    assert.equal(r.code, EXIT.noSpace, r.stderr);
    assert.match(r.termination, /^not enough space for this download in .* bytes needed, \d+ bytes free/);
    assert.equal(bytesIn(r.termination).needed, layer.length, 'needed is the layer size the manifest gives');
    assert.doesNotMatch(r.stderr, /"msg":"progress/, 'no layer bytes were read');
    assert.deepEqual(r.tempFiles, []);
  });
});
