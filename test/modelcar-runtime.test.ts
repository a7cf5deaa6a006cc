// Modelcars started the way a cluster starts them: fetch (file://) → package → push into a local
// docker-registry, then pull and run with podman on the overlay storage driver, which, like CRI-O
// (containers/storage) and Docker's overlay2, refuses images of more than about 128 layers at mount
// time ("max depth exceeded"). The vfs store of the image builds has no such limit, so it would hide
// that failure (issue 12). Inside the container, as KServe's modelcar container does, `sh` runs and
// /models is listed; every file must be byte-identical, none missing, none extra.
//
// Needs root, podman + runc, docker-registry, skopeo, /bin/busybox (the base image) and a temp dir
// overlay can stack on; skipped with the reason otherwise. One registry and one overlay store
// (scripts/podman-sandboxed.sh --storage-driver overlay) for the whole file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildBusyboxBase } from '../dev/busybox-base.js';
import { runCli, tempDir, type CliResult } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { overlayPodman, probeOverlayPodman, whyNoOverlayPodman, type OverlayPodman } from './support/podman-overlay.js';

const run = promisify(execFile);
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;

function whyNoRuntime(): string | undefined {
  const podman = whyNoOverlayPodman();
  if (podman) return podman;
  if (!registryAvailable()) return 'docker-registry is not installed (apt-get install docker-registry)';
  if (!has('skopeo')) return 'skopeo is not installed (apt-get install skopeo)';
  if (!has('/bin/busybox', '--help')) return 'busybox-static is not installed (/bin/busybox), needed for the base image';
  return undefined;
}
let skip = whyNoRuntime();
/** The overlay store of this file, made (and probed) before the tests are declared, so that a machine without overlay support skips them. */
const storeDir = skip ? '' : mkdtempSync(path.join(tmpdir(), 'ms-overlay-'));
const probe = storeDir ? probeOverlayPodman(storeDir) : {};
if (probe.skip) {
  skip = probe.skip;
  rmSync(storeDir, { recursive: true, force: true });
}

/** The default of --modelcar-max-layers (steps/parameters.yaml): base layers included. */
const DEFAULT_MAX_LAYERS = 100;
/** The default of --modelcar-own-layer-bytes: files at least this big keep a layer of their own. */
const OWN_LAYER_BYTES = 16 * 1024 * 1024;

/** The layer count the control test shows overlay refusing (NOTES: 121 start, 131 do not). */
const REFUSED_LAYERS = 131;

/** A model file: literal bytes, or `size` bytes of a pattern seeded by the path (no big buffers kept). */
type FileSpec = Buffer | { size: number };
type ModelSpec = Record<string, FileSpec>;

function patternBytes(rel: string, size: number): Buffer {
  const seed = createHash('sha256').update(rel).digest();
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += seed.length) seed.copy(out, i, 0, Math.min(seed.length, size - i));
  return out;
}

/** Writes the model under dir; returns path → sha256 (hex) of every file. */
async function writeModel(dir: string, spec: ModelSpec): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const [rel, f] of Object.entries(spec)) {
    const data = Buffer.isBuffer(f) ? f : patternBytes(rel, f.size);
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    sums.set(rel, createHash('sha256').update(data).digest('hex'));
  }
  return sums;
}

/** `count` files: small ones (a few in nested folders, one empty) plus `large` files of the own-layer size and more. */
function manyFiles(count: number, large = 0): ModelSpec {
  const spec: ModelSpec = { 'config.json': Buffer.from(`{"architectures":["Runtime"],"files":${count}}\n`) };
  for (let i = 0; i < large; i++) spec[`model-${String(i + 1).padStart(5, '0')}-of-${String(large).padStart(5, '0')}.safetensors`] = { size: OWN_LAYER_BYTES + i };
  spec['tokenizer/empty.txt'] = Buffer.alloc(0);
  const nested = ['tokenizer', 'a/b/c', 'onnx/fp16'];
  for (let i = 0; Object.keys(spec).length < count; i++) {
    const dir = i % 10 === 0 ? `${nested[(i / 10) % nested.length]}/` : '';
    spec[`${dir}part-${String(i).padStart(5, '0')}.bin`] = Buffer.from(`file ${i} of ${count}\n`.repeat(1 + (i % 7)));
  }
  return spec;
}

/** Every file its own layer: the control images with a known layer count. */
function smallFiles(count: number): ModelSpec {
  const spec: ModelSpec = {};
  for (let i = 0; i < count; i++) spec[`f-${String(i).padStart(4, '0')}.txt`] = Buffer.from(`control ${i}\n`);
  return spec;
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} exited ${r.code}: ${r.termination || r.stderr.slice(-3000)}`);
  return r;
}

interface Manifest {
  mediaType?: string;
  manifests?: Array<{ digest: string; mediaType: string; platform?: { os: string; architecture: string } }>;
  layers?: Array<{ digest: string; size: number; annotations?: Record<string, string> }>;
}

describe('modelcars started under podman with the overlay storage driver', { skip: skip ?? false }, () => {
  let work = '';
  let registry: TestRegistry;
  let rt: OverlayPodman;
  let baseRef = '';
  const started = Date.now();
  /** Image digests of the first package of each model, by name. */
  const digests = new Map<string, string>();

  before(async () => {
    work = await tempDir('ms-modelcar-runtime-');
    registry = await startRegistry({ mode: 'plain' });
    const base = await buildBusyboxBase(path.join(work, 'base'));
    baseRef = `${registry.host}/library/busybox:latest`;
    // --preserve-digests: skopeo would otherwise gzip again and change the digests.
    await run('skopeo', ['copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${base.dir}:latest`, `docker://${baseRef}`]);
    rt = overlayPodman(storeDir);
  });

  after(async () => {
    // reset first: it unmounts the overlay mounts under the store, which rm could not remove.
    await rt?.reset();
    await rm(storeDir, { recursive: true, force: true });
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** fetch (file://) → package → push; returns the pushed reference and the package and push results. */
  async function shipModel(name: string, src: string, extra: string[] = [], wsName = name) {
    const ws = path.join(work, 'ws', wsName);
    ok(await runCli(['fetch', '--storage-path', ws, '--source-type', 'uri', '--source-uri', `file://${src}`], {}, { timeoutMs: 600_000 }), `fetch ${name}`);
    const packaged = ok(
      await runCli(['package', '--storage-path', ws, '--destination-oci-base-image', baseRef, '--destination-oci-enable-tls-verify', 'false', ...extra], {}, { timeoutMs: 600_000 }),
      `package ${name}`,
    );
    const digest = (JSON.parse(packaged.stdout) as Record<string, string>)['image-digest'] ?? '';
    assert.match(digest, /^sha256:[0-9a-f]{64}$/, packaged.stdout);
    const ref = `${registry.host}/models/${name}:v1`;
    const pushed = ok(
      await runCli(['push', '--storage-path', ws, '--destination-type', 'oci', '--destination-oci-uri', ref, '--destination-oci-enable-tls-verify', 'false'], {}, { timeoutMs: 900_000 }),
      `push ${name}`,
    );
    return { ws, ref, digest, pushed };
  }

  /** Layer counts of every platform manifest of the pushed image (read from the registry). */
  async function layerCounts(ref: string): Promise<Map<string, number>> {
    const raw = async (r: string) => JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${r}`], { maxBuffer: 64 * 1024 * 1024 })).stdout) as Manifest;
    const root = await raw(ref);
    const repo = ref.slice(0, ref.lastIndexOf(':'));
    const counts = new Map<string, number>();
    for (const m of root.manifests ?? []) {
      const manifest = await raw(`${repo}@${m.digest}`);
      counts.set(`${m.platform?.os}/${m.platform?.architecture}`, manifest.layers?.length ?? 0);
    }
    if (!root.manifests) counts.set('single', root.layers?.length ?? 0);
    return counts;
  }

  /** Runs the image like KServe's modelcar container (sh, /models) and lists path → sha256 of every file in /models. */
  async function modelsInContainer(ref: string, opts: { allowFailure?: boolean } = {}) {
    await rt.podman(['pull', '--quiet', '--tls-verify=false', ref]);
    // The busybox base links only a few applets; find/sort/xargs/sha256sum are busybox subcommands.
    const script = 'ls /models >/dev/null && cd /models && busybox find . -type f | LC_ALL=C busybox sort | busybox xargs -r busybox sha256sum';
    const r = await rt.podman(['run', '--rm', '--pull=never', ref, 'sh', '-c', script], { allowFailure: opts.allowFailure ?? false });
    const files = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const m = /^([0-9a-f]{64}) {2}\.\/(.+)$/.exec(line);
      if (m) files.set(m[2]!, m[1]!);
    }
    return { ...r, files };
  }

  function assertSameFiles(inImage: Map<string, string>, local: Map<string, string>) {
    const missing = [...local.keys()].filter((p) => !inImage.has(p));
    const extra = [...inImage.keys()].filter((p) => !local.has(p));
    const differ = [...local.keys()].filter((p) => inImage.has(p) && inImage.get(p) !== local.get(p));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} files missing from /models`);
    assert.deepEqual(extra.slice(0, 10), [], `${extra.length} files in /models that the model does not have`);
    assert.deepEqual(differ.slice(0, 10), [], `${differ.length} files in /models differ from the model`);
    assert.equal(inImage.size, local.size);
  }

  test('the harness sees the runtime limit: the store is overlay; 121 layers start, 131 are refused with "max depth exceeded"', { timeout: 600_000 }, async (t) => {
    assert.equal(probe.error, undefined);
    const info = await rt.podman(['info', '--format', '{{.Store.GraphDriverName}}']);
    assert.equal(info.stdout.trim(), 'overlay', 'podman uses the overlay storage driver (vfs would hide the layer limit)');

    // Every file its own layer, within a raised budget: the base layer + one per file.
    const control = ['--modelcar-own-layer-bytes', '0', '--modelcar-max-layers', '200'];
    for (const [files, starts] of [[120, true], [REFUSED_LAYERS - 1, false]] as const) {
      const t0 = Date.now();
      const src = path.join(work, 'src', `control-${files}`);
      const local = await writeModel(src, smallFiles(files));
      const { ref } = await shipModel(`control-${files}`, src, control);
      for (const [platform, n] of await layerCounts(ref)) assert.equal(n, files + 1, `${platform}: the base layer and one layer per file`);
      const r = await modelsInContainer(ref, { allowFailure: true });
      if (starts) {
        assert.equal(r.code, 0, r.stderr);
        assertSameFiles(r.files, local);
      } else {
        assert.notEqual(r.code, 0, `an image of ${files + 1} layers must not start under overlay`);
        assert.match(r.stderr, /max depth exceeded/);
      }
      t.diagnostic(`${files + 1} layers: ${starts ? 'started' : 'refused (max depth exceeded)'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  });

  const models: Array<[name: string, spec: () => ModelSpec, extra: string[]]> = [
    ['two-files', () => ({ 'config.json': Buffer.from('{"architectures":["Runtime"]}\n'), 'model.safetensors': { size: 20 * 1024 * 1024 } }), []],
    ['files-200', () => manyFiles(200, 2), []],
    ['files-2000', () => manyFiles(2000, 3), []],
    // Large files alone beyond the budget (150 "shards" at the own-layer size, kept small here by
    // lowering that size): they are grouped too, rather than giving an image that cannot start.
    ['large-150', () => Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`shard-${String(i).padStart(3, '0')}.bin`, { size: 8192 + i }])), ['--modelcar-own-layer-bytes', '8192']],
  ];
  const sources = new Map<string, { src: string; local: Map<string, string>; ref: string }>();

  for (const [name, spec, extra] of models) {
    test(`${name}: packaged with the default budget${extra.length ? ` (${extra.join(' ')})` : ''}, pushed, started under overlay with every file byte-identical in /models`, { timeout: 1_200_000 }, async (t) => {
      const t0 = Date.now();
      const src = path.join(work, 'src', name);
      const local = await writeModel(src, spec());
      const { ref, digest } = await shipModel(name, src, extra);
      digests.set(name, digest);
      sources.set(name, { src, local, ref });
      const counts = await layerCounts(ref);
      assert.ok(counts.size >= 1);
      const layers = [...counts].map(([p, n]) => `${p} ${n}`).join(', ');
      // Beyond what the control shows overlay refuses, pulling thousands of layers only costs minutes.
      const most = Math.max(...counts.values());
      assert.ok(most < REFUSED_LAYERS, `the modelcar has ${layers} layers: overlay refuses ${REFUSED_LAYERS} (first test), not started`);
      // Started before the budget check, so a failure names both what the runtime said and the layer counts.
      const r = await modelsInContainer(ref, { allowFailure: true });
      assert.equal(r.code, 0, `the modelcar (layers: ${layers}) does not start: ${r.stderr.trim().split('\n').pop()}`);
      assertSameFiles(r.files, local);
      for (const [platform, n] of counts) assert.ok(n <= DEFAULT_MAX_LAYERS, `${platform}: ${n} layers, more than the default budget of ${DEFAULT_MAX_LAYERS}`);
      t.diagnostic(`${local.size} files, layers ${layers}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  }

  test('a second package of the same model in a fresh workspace gives the same digest, and its push uploads nothing', { timeout: 600_000 }, async (t) => {
    const first = sources.get('files-200');
    const firstDigest = digests.get('files-200');
    if (!first || !firstDigest) return t.skip('the files-200 model was not shipped');
    // Same bytes, other mtimes (a fresh download would have them), a fresh workspace (nothing
    // reused), the same target: the digest depends on the content only.
    const later = new Date(Date.UTC(2030, 0, 1));
    for (const rel of first.local.keys()) await utimes(path.join(first.src, rel), later, later);
    const again = await shipModel('files-200', first.src, [], 'files-200-again');
    assert.equal(again.digest, firstDigest, 'same model, same base, same settings: same image digest');
    assert.equal((JSON.parse(again.pushed.stdout) as Record<string, string>)['image-digest'], firstDigest);
    assert.match(again.pushed.stderr, /uploaded 0 blobs, skipped \d+ already present/, 'every blob was already in the registry');
    t.diagnostic(`the whole file so far: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});
