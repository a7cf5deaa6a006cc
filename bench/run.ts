// `npm run bench`: model-sync's fetch, package, push and all beside peer tools (and, for package and
// push, a reference: one openssl pass, one curl PUT per blob) on the same data and the same local
// servers, in one run; on the large profile also the scale-out group beside the streaming all.
// Prints a table and writes bench/results/bench-<time>.json and latest.json. Ratios are printed,
// never asserted. Settings (environment), documented in docs/bench.md:
//   BENCH_PROFILE      large | many-files | both (default both)
//   BENCH_SIZE_MB      large profile size in MiB (default 1024), in BENCH_SHARDS large files (4)
//   BENCH_MANY_FILES   many-files profile file count (default 2000), sizes BENCH_MANY_MIN_KB..BENCH_MANY_MAX_KB (100..1024)
//   BENCH_RESUME=0     no resume row (fetch killed with SIGKILL at BENCH_RESUME_AT of the bytes, default 0.5, then run again)
//   BENCH_KEEP=1       keep the work directory (printed) for inspection
//   BENCH_SCALE_OUT=0  no scale-out group (large profile: plan + N parallel push --part + assemble, beside the streaming all)
//   BENCH_PARTS        its part counts (default 1,2,4)
//   BENCH_PHASES       the phases to run (default fetch,resume,package,push,all,scale-out); a row whose input
//                      phase is not run shows as skipped; scale-out runs the streaming all it compares to
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, cleanEnv, REPO_ROOT } from '../dev/cli.js';
import { startStandin } from '../dev/model-registry-standin.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { S3RVER_KEY as S3RVER_ACCESS_KEY, S3RVER_SECRET as S3RVER_SECRET_KEY, startS3Server } from '../dev/s3-server.js';
import { pushBaseImage } from './lib/base-image.js';
import { generateDataset, largeProfile, manyFilesProfile, type Dataset } from './lib/dataset.js';
import { CommandFailed, measure, runToEnd, serverCpuSeconds, type CommandSpec } from './lib/measure.js';
import { addRatios, CHAIN_TOOL, costRatios, costTable, OURS, scaleOutTable, STREAM_TOOL, table, targets, targetTable, writeJson, type Phase, type Profile, type Row } from './lib/report.js';
import { killAndResume } from './lib/resume.js';
import { parsePartCounts, runScaleOut, scaleOutTool } from './lib/scale-out.js';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MB ?? '1024');
const SHARDS = Number(process.env.BENCH_SHARDS ?? '4');
const MANY_FILES = Number(process.env.BENCH_MANY_FILES ?? '2000');
const RESUME_AT = Number(process.env.BENCH_RESUME_AT ?? '0.5');
const MANY_MIN_KIB = Number(process.env.BENCH_MANY_MIN_KB ?? '100');
const MANY_MAX_KIB = Number(process.env.BENCH_MANY_MAX_KB ?? '1024');
const PROFILE_SETTING = process.env.BENCH_PROFILE ?? 'both';
const ALL_PHASES: Phase[] = ['fetch', 'resume', 'package', 'push', 'all', 'scale-out'];
const { PHASES, PART_COUNTS } = (() => {
  try {
    return { PHASES: phasesToRun(process.env.BENCH_PHASES), PART_COUNTS: parsePartCounts(process.env.BENCH_PARTS ?? '1,2,4') };
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
})();
const BUCKET = 'models';
const TAG = 'bench';
const GIB = 1024 ** 3;

interface Totals {
  files: number;
  bytes: number;
}

function phasesToRun(setting: string | undefined): Set<Phase> {
  const names = (setting ?? ALL_PHASES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(ALL_PHASES as string[]).includes(n));
  if (unknown.length || !names.length) throw new Error(`BENCH_PHASES must list phases from ${ALL_PHASES.join(',')}, not ${setting}`);
  const phases = new Set(names as Phase[]);
  if (process.env.BENCH_RESUME === '0') phases.delete('resume');
  if (process.env.BENCH_SCALE_OUT === '0') phases.delete('scale-out');
  return phases;
}

/** Wraps a stop function so that the second call does nothing. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

async function totalsOf(dir: string): Promise<Totals> {
  const totals = { files: 0, bytes: 0 };
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    totals.files++;
    totals.bytes += (await stat(path.join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size;
  }
  return totals;
}

/** Samples the bytes under `dirs` every 500 ms while a command runs; `peak()` is the largest sum seen. */
function workspaceSampler(dirs: string[]): { onStart: () => () => void; peak: () => number } {
  let peak = 0;
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    let sum = 0;
    for (const d of dirs) sum += (await totalsOf(d)).bytes;
    peak = Math.max(peak, sum);
    busy = false;
  };
  return {
    onStart: () => {
      const timer = setInterval(() => void sample(), 500);
      return () => {
        clearInterval(timer);
        void sample(); // the final size, in case the run was shorter than a sample
      };
    },
    peak: () => peak,
  };
}

function toolVersion(argv: string[]): string {
  try {
    const [file, ...args] = argv;
    return execFileSync(file ?? '', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0] ?? '';
  } catch {
    return 'not installed';
  }
}

function ourCommand(step: string, env: Record<string, string>, work: string, args: string[] = []): CommandSpec {
  return {
    argv: [process.execPath, CLI, step, ...args],
    env: cleanEnv({ MODEL_SYNC_LOG_FORMAT: 'json', TERMINATION_MESSAGE_PATH: path.join(work, `termination-${step}`), ...env }),
  };
}

type Verify = () => Promise<string | undefined>;

function expectTotals(dir: string, data: Dataset): Verify {
  return async () => {
    const t = await totalsOf(dir);
    return t.files === data.files.length && t.bytes === data.totalBytes
      ? undefined
      : `output has ${t.files} files / ${t.bytes} bytes, expected ${data.files.length} / ${data.totalBytes}`;
  };
}

function pushedExists(reg: TestRegistry, ref: string): Verify {
  return async () => {
    try {
      await runToEnd({ argv: ['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/${ref}`], env: cleanEnv() });
      return undefined;
    } catch (err) {
      return `pushed image not found: ${String(err).slice(0, 200)}`;
    }
  };
}

/** Whether `model-sync all --help` offers --stream (the streaming `all`; absent before it is built). */
function streamAvailable(): boolean {
  try {
    return /--stream\b/.test(execFileSync(process.execPath, [CLI, 'all', '--help'], { encoding: 'utf8', env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch {
    return false;
  }
}

interface Servers {
  s3: { endpoint: string };
  /** Holds the busybox base image for the whole run (package and all read it). */
  base: { reference: string } | { skip: string };
  standinUrl?: string;
  /** `model-sync all` offers --stream. */
  stream: boolean;
  work: string;
  stops: (() => Promise<void>)[];
}

/** One profile's rows: fetch, package, push and all, each tool on the same data set. */
async function runProfile(profile: Profile, data: Dataset, srv: Servers): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = path.dirname(data.dir);
  const prefix = `bench-${profile}`;
  const { work } = srv;

  /** Times one command, then checks its output; failures become rows, not exceptions. */
  const timed = async (phase: Phase, tool: string, role: Row['role'], cmd: CommandSpec, verify: Verify, workspace?: string[]): Promise<Row> => {
    const row: Row = { profile, phase, tool, role, command: cmd.argv, status: 'ok' };
    process.stderr.write(`bench: ${profile} ${phase} with ${tool} ...\n`);
    const sampler = workspace ? workspaceSampler(workspace) : undefined;
    try {
      const serverCpuBefore = await serverCpuSeconds();
      const m = await measure(cmd, sampler?.onStart);
      row.serverCpuSecondsPerGiB = ((await serverCpuSeconds()) - serverCpuBefore) / (data.totalBytes / GIB);
      row.seconds = m.seconds;
      row.mibPerSecond = data.totalBytes / 1024 / 1024 / m.seconds;
      row.peakRssMiB = m.peakRssMiB;
      if (m.cpuSeconds !== undefined) {
        row.cpuSeconds = m.cpuSeconds;
        row.cpuSecondsPerGiB = m.cpuSeconds / (data.totalBytes / GIB);
      }
      if (sampler) row.workspacePeakMiB = sampler.peak() / 1024 / 1024;
      const problem = await verify();
      if (problem) Object.assign(row, { status: 'failed', note: problem });
    } catch (err) {
      const text = err instanceof CommandFailed ? err.output : String(err);
      const lastLine = text.trim().split('\n').filter(Boolean).pop() ?? String(err);
      Object.assign(row, { status: 'failed', note: lastLine.slice(0, 300) });
    }
    return row;
  };
  const skipped = (phase: Phase, tool: string, role: Row['role'], note: string): Row => ({ profile, phase, tool, role, command: [], status: 'skipped', note });
  /** Runs `run` against a registry of its own, so no blob is already there. */
  const withFreshRegistry = async (run: (reg: TestRegistry) => Promise<Row>): Promise<Row> => {
    const reg = await startRegistry({ mode: 'plain' });
    const stop = once(() => reg.stop());
    srv.stops.push(stop);
    try {
      return await run(reg);
    } finally {
      await stop();
    }
  };
  const ok = (phase: Phase, tool: string) => rows.find((r) => r.phase === phase && r.tool === tool)?.status === 'ok';

  // Peers run without the machine's AWS_* settings (AWS_CA_BUNDLE breaks rclone) and config files.
  const awsEnv = cleanEnv({
    AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(work, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-aws-credentials'),
    // s3rver stores aws-chunked framing as data when the client adds checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
  });
  const rcloneEnv = cleanEnv({
    RCLONE_CONFIG: path.join(work, 'no-rclone.conf'),
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
    RCLONE_CONFIG_BENCH_ENDPOINT: srv.s3.endpoint,
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
  });
  const sourceEnv = {
    MODEL_SYNC_SOURCE_TYPE: 's3',
    MODEL_SYNC_SOURCE_AWS_BUCKET: BUCKET,
    MODEL_SYNC_SOURCE_AWS_KEY: prefix,
    MODEL_SYNC_SOURCE_AWS_ENDPOINT: srv.s3.endpoint,
    MODEL_SYNC_SOURCE_AWS_REGION: 'us-east-1',
    MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
    MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
  };

  process.stderr.write(`bench: ${profile}: uploading ${data.files.length} files to s3rver\n`);
  await runToEnd({ argv: ['aws', 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', srv.s3.endpoint, data.dir, `s3://${BUCKET}/${prefix}/`], env: awsEnv });
  // From here on the peers read rclone's copy: one copy less on disk (8 GiB runs need tens of GiB).
  await rm(data.dir, { recursive: true, force: true });

  // ---- fetch ----
  const ours = path.join(dir, 'ws-model-sync');
  const peerModel = path.join(dir, 'fetch-rclone');
  if (PHASES.has('fetch')) {
    rows.push(await timed('fetch', OURS, 'ours', ourCommand('fetch', { MODEL_SYNC_STORAGE_PATH: ours, ...sourceEnv }, work), expectTotals(path.join(ours, 'model'), data)));
    const awsOut = path.join(dir, 'fetch-aws');
    rows.push(await timed('fetch', 'aws s3 cp', 'peer', { argv: ['aws', 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', srv.s3.endpoint, `s3://${BUCKET}/${prefix}/`, awsOut], env: awsEnv }, expectTotals(awsOut, data)));
    await rm(awsOut, { recursive: true, force: true });
    rows.push(await timed('fetch', 'rclone copy', 'peer', { argv: ['rclone', 'copy', `bench:${BUCKET}/${prefix}`, peerModel], env: rcloneEnv }, expectTotals(peerModel, data)));
  }
  const peerModelOk = ok('fetch', 'rclone copy');

  // ---- resume: model-sync fetch killed with SIGKILL at about half the bytes, then run again ----
  if (profile === 'large' && PHASES.has('resume')) {
    const resumeWs = path.join(dir, 'ws-resume');
    const cmd = ourCommand('fetch', { MODEL_SYNC_STORAGE_PATH: resumeWs, ...sourceEnv }, work);
    const row: Row = { profile, phase: 'resume', tool: `${OURS} fetch, kill -9 at ${Math.round(RESUME_AT * 100)}%, again`, role: 'ours', command: cmd.argv, status: 'ok' };
    process.stderr.write(`bench: ${profile} resume with ${OURS} ...\n`);
    try {
      const r = await killAndResume(cmd, resumeWs, data.totalBytes, RESUME_AT, path.join(work, 'resume.log'));
      const problem = await expectTotals(path.join(resumeWs, 'model'), data)();
      Object.assign(row, {
        seconds: r.second.seconds,
        mibPerSecond: data.totalBytes / 1024 / 1024 / r.second.seconds,
        peakRssMiB: r.second.peakRssMiB,
        ...(r.second.cpuSeconds !== undefined ? { cpuSeconds: r.second.cpuSeconds, cpuSecondsPerGiB: r.second.cpuSeconds / (data.totalBytes / GIB) } : {}),
        killedAt: r.killedAt,
        movedAgain: r.movedAgain,
        note: `killed at ${(r.killedAt * 100).toFixed(0)}% on disk; the second run kept ${(r.keptBytes / 1024 / 1024).toFixed(0)} MiB of partial files, skipped ${(r.skippedBytes / 1024 / 1024).toFixed(0)} MiB of complete ones, moved ${(r.movedAgain * 100).toFixed(0)}% again`,
        ...(problem ? { status: 'failed', note: problem } : {}),
      });
    } catch (err) {
      Object.assign(row, { status: 'failed', note: String(err instanceof Error ? err.message : err).slice(0, 300) });
    }
    rows.push(row);
    await rm(resumeWs, { recursive: true, force: true });
  }

  // ---- package ----
  const shellLayout = path.join(dir, 'layout-shell');
  const PACKAGE_PEER = 'tar+sha256sum+jq';
  const OPENSSL = 'openssl dgst -sha256';
  if (PHASES.has('package')) {
    if ('skip' in srv.base) {
      for (const [tool, role] of [[OURS, 'ours'], [PACKAGE_PEER, 'peer'], [OPENSSL, 'reference']] as const) rows.push(skipped('package', tool, role, srv.base.skip));
    } else {
      const base = srv.base.reference;
      rows.push(
        ok('fetch', OURS)
          ? await timed('package', OURS, 'ours', ourCommand('package', { MODEL_SYNC_STORAGE_PATH: ours, MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base, MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' }, work), async () => {
              // model-sync's layout holds the base and the new manifests; push makes the model layers from model/.
              const index = JSON.parse(await readFile(path.join(ours, 'image', 'index.json'), 'utf8').catch(() => '{}')) as { manifests?: unknown[] };
              return index.manifests?.length ? undefined : 'no image index in image/index.json';
            })
          : skipped('package', OURS, 'ours', 'model-sync fetch did not produce a workspace'),
      );
      if (peerModelOk) {
        rows.push(
          await timed('package', PACKAGE_PEER, 'peer', { argv: [path.join(REPO_ROOT, 'bench/peers/package-layout.sh'), peerModel, base, shellLayout, TAG], env: cleanEnv() }, async () =>
            (await totalsOf(shellLayout)).bytes >= data.totalBytes ? undefined : 'image layout is smaller than the model',
          ),
        );
        // The floor for package: one sha256 pass over the model files, in one process.
        rows.push(await timed('package', OPENSSL, 'reference', { argv: ['bash', '-c', 'cd "$1" && find . -type f -print0 | xargs -0 openssl dgst -sha256 > /dev/null', 'openssl-pass', peerModel], env: cleanEnv() }, async () => undefined));
      } else {
        rows.push(skipped('package', PACKAGE_PEER, 'peer', 'rclone fetch failed: no model copy for the peers'), skipped('package', OPENSSL, 'reference', 'rclone fetch failed'));
      }
    }
  }
  await rm(peerModel, { recursive: true, force: true });

  // ---- push: each tool into a fresh registry ----
  const SKOPEO = 'skopeo copy --preserve-digests';
  const CURL = 'curl POST+PUT per blob';
  if (PHASES.has('push')) {
    if (!registryAvailable()) {
      for (const [tool, role] of [[OURS, 'ours'], [SKOPEO, 'peer'], [CURL, 'reference']] as const) rows.push(skipped('push', tool, role, 'docker-registry is not installed'));
    } else {
      rows.push(
        ok('package', OURS)
          ? await withFreshRegistry((reg) =>
              timed('push', OURS, 'ours', ourCommand('push', { MODEL_SYNC_STORAGE_PATH: ours, MODEL_SYNC_DESTINATION_TYPE: 'oci', MODEL_SYNC_DESTINATION_OCI_URI: `${reg.host}/bench/model:${TAG}`, MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' }, work), pushedExists(reg, `bench/model:${TAG}`)),
            )
          : skipped('push', OURS, 'ours', 'no image layout from model-sync package'),
      );
      // skopeo and curl push the shell peer's layout: model-sync's image/ holds no model layer blobs
      // (its push streams them from model/), so they cannot read it. Same files, same layer contents.
      if (ok('package', PACKAGE_PEER)) {
        rows.push(
          await withFreshRegistry((reg) =>
            timed('push', SKOPEO, 'peer', { argv: ['skopeo', 'copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${shellLayout}:${TAG}`, `docker://${reg.host}/bench/model:${TAG}`], env: cleanEnv() }, pushedExists(reg, `bench/model:${TAG}`)),
          ),
        );
        rows.push(
          await withFreshRegistry((reg) =>
            timed('push', CURL, 'reference', { argv: [path.join(REPO_ROOT, 'bench/peers/curl-push.sh'), shellLayout, reg.url, 'bench/curl', TAG], env: cleanEnv() }, pushedExists(reg, `bench/curl:${TAG}`)),
          ),
        );
      } else {
        rows.push(skipped('push', SKOPEO, 'peer', 'no image layout to push'), skipped('push', CURL, 'reference', 'no image layout to push'));
      }
    }
  }
  await rm(ours, { recursive: true, force: true });
  await rm(shellLayout, { recursive: true, force: true });

  // ---- all: S3 -> modelcar -> fresh registry (+ Model Registry stand-in for model-sync) ----
  // The scale-out group compares itself to the streaming `all` of this run, so it runs that row
  // even when the all phase is not selected.
  const CHAIN = CHAIN_TOOL;
  const scaleOut = profile === 'large' && PHASES.has('scale-out');
  if (!PHASES.has('all') && !scaleOut) return rows;
  if ('skip' in srv.base || !srv.standinUrl) {
    const note = 'skip' in srv.base ? srv.base.skip : 'no Model Registry stand-in';
    if (PHASES.has('all')) rows.push(skipped('all', OURS, 'ours', note), skipped('all', CHAIN, 'peer', note));
    if (scaleOut) for (const n of PART_COUNTS) rows.push(skipped('scale-out', scaleOutTool(n), 'ours', note));
    return rows;
  }
  const base = srv.base.reference;
  const wsAll = path.join(dir, 'ws-all');
  // Each run registers a model of its own name: create_model refuses a name another job made.
  const metadataFor = async (name: string): Promise<string> => {
    const metadata = path.join(dir, `metadata-${name}`);
    await mkdir(metadata, { recursive: true });
    for (const [k, v] of Object.entries({ 'RegisteredModel.name': name, 'ModelVersion.name': '1', 'ModelArtifact.name': name })) await writeFile(path.join(metadata, k), v);
    return metadata;
  };
  const destinationEnv = (reg: TestRegistry) => ({
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `${reg.host}/bench/model:${TAG}`,
    MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base,
    MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
  });
  let runs = 0;
  const ourAll = async (tool: string, args: string[]): Promise<Row> => {
    const metadata = await metadataFor(`bench-${profile}-${++runs}`);
    const row = await withFreshRegistry((reg) =>
      timed(
        'all',
        tool,
        'ours',
        ourCommand(
          'all',
          {
            MODEL_SYNC_STORAGE_PATH: wsAll,
            ...sourceEnv,
            ...destinationEnv(reg),
            MODEL_SYNC_REGISTRY_SERVER_ADDRESS: srv.standinUrl ?? '',
            MODEL_SYNC_REGISTRY_IS_SECURE: 'false',
            MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
            MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
          },
          work,
          args,
        ),
        pushedExists(reg, `bench/model:${TAG}`),
        [wsAll],
      ),
    );
    // The scale-out rows check their image against this one.
    const digest = (await readFile(path.join(wsAll, '.model-sync', 'results', 'image-digest'), 'utf8').catch(() => '')).trim();
    if (digest) row.imageDigest = digest;
    await rm(wsAll, { recursive: true, force: true });
    return row;
  };
  // The streaming `all` (source -> registry, no model copy) is measured once the CLI offers it.
  if (srv.stream) {
    if (PHASES.has('all')) rows.push(await ourAll(OURS, ['--stream', 'false']));
    rows.push(await ourAll(STREAM_TOOL, ['--stream', 'true']));
  } else {
    if (PHASES.has('all')) rows.push(await ourAll(OURS, []));
    rows.push(skipped('all', STREAM_TOOL, 'ours', 'not available: `model-sync all --help` lists no --stream'));
  }
  if (PHASES.has('all')) {
    const chainWork = path.join(dir, 'chain');
    rows.push(
      await withFreshRegistry((reg) =>
        timed('all', CHAIN, 'peer', { argv: [path.join(REPO_ROOT, 'bench/peers/chain.sh'), `${BUCKET}/${prefix}`, chainWork, base, `${reg.host}/bench/model:${TAG}`], env: rcloneEnv }, pushedExists(reg, `bench/model:${TAG}`), [chainWork]),
      ),
    );
    await rm(chainWork, { recursive: true, force: true });
  }

  // ---- scale-out: plan --parts N, N push --part I/N at once, assemble; each N into a fresh registry ----
  if (scaleOut) {
    const all = rows.find((r) => r.phase === 'all' && r.tool === STREAM_TOOL);
    for (const n of PART_COUNTS) {
      process.stderr.write(`bench: ${profile} scale-out with ${n} part(s) ...\n`);
      rows.push(
        await withFreshRegistry((reg) =>
          runScaleOut({
            profile,
            parts: n,
            dataBytes: data.totalBytes,
            dir: path.join(dir, `scale-out-${n}`),
            env: { ...sourceEnv, ...destinationEnv(reg) },
            command: (step, env) => ourCommand(step, env, work),
            pushed: pushedExists(reg, `bench/model:${TAG}`),
            all,
            sampler: workspaceSampler,
          }),
        ),
      );
    }
  }
  return rows;
}

function profilesToRun(): Profile[] {
  if (PROFILE_SETTING === 'both') return ['large', 'many-files'];
  if (PROFILE_SETTING === 'large' || PROFILE_SETTING === 'many-files') return [PROFILE_SETTING];
  throw new Error(`BENCH_PROFILE must be large, many-files or both, not ${PROFILE_SETTING}`);
}

/**
 * At its fullest the disk holds four copies of a data set (s3rver's, model-sync's workspace or the
 * chain's model, the shell layout, the registry's blobs); every other copy is removed as soon as the
 * next tool no longer needs it. Refuses to start when TMPDIR has less than that, plus a margin.
 */
async function checkDisk(profiles: Profile[]): Promise<void> {
  const largest = Math.max(...profiles.map((p) => (p === 'large' ? SIZE_MIB * 1024 * 1024 : (MANY_FILES * (MANY_MIN_KIB + MANY_MAX_KIB) * 1024) / 2)));
  const fs = await statfs(os.tmpdir());
  const free = fs.bavail * fs.bsize;
  const needed = 4 * largest + 2 * GIB;
  if (free < needed) throw new Error(`bench: ${os.tmpdir()} has ${(free / GIB).toFixed(1)} GiB free, the run needs about ${(needed / GIB).toFixed(1)} GiB (4 copies of the data set + 2 GiB): lower BENCH_SIZE_MB or set TMPDIR`);
}

async function main(): Promise<void> {
  const profiles = profilesToRun();
  await checkDisk(profiles);
  const work = await mkdtemp(path.join(os.tmpdir(), 'ms-bench-'));
  const stops: (() => Promise<void>)[] = [];
  const rows: Row[] = [];
  const datasets: Record<string, { files: number; totalBytes: number; smallest: number; largest: number }> = {};
  const started = Date.now();
  const loadBefore = os.loadavg();
  try {
    const s3 = await startS3Server(BUCKET);
    stops.push(once(() => s3.stop()));
    let base: Servers['base'] = { skip: 'docker-registry is not installed' };
    if (registryAvailable()) {
      const baseRegistry = await startRegistry({ mode: 'plain' });
      stops.push(once(() => baseRegistry.stop()));
      base = await pushBaseImage(baseRegistry.host, path.join(work, 'base'));
    }
    const standin = await startStandin();
    stops.push(once(() => standin.stop()));
    const srv: Servers = { s3, base, standinUrl: standin.url, stream: streamAvailable(), work, stops };

    for (const profile of profiles) {
      const files = profile === 'large' ? largeProfile(SIZE_MIB, SHARDS) : manyFilesProfile(MANY_FILES, MANY_MIN_KIB * 1024, MANY_MAX_KIB * 1024);
      process.stderr.write(`bench: work dir ${work}; ${profile}: generating ${files.length} files\n`);
      const data = await generateDataset(path.join(work, profile, 'data'), files);
      const sizes = data.files.map((f) => f.size);
      datasets[profile] = { files: data.files.length, totalBytes: data.totalBytes, smallest: Math.min(...sizes), largest: Math.max(...sizes) };
      rows.push(...(await runProfile(profile, data, srv)));
      await rm(path.join(work, profile), { recursive: true, force: true });
    }

    addRatios(rows);
    const ratios = costRatios(rows);
    const loadAfter = os.loadavg();
    const describe = Object.entries(datasets).map(([p, d]) => `${p}: ${d.files} files, ${(d.totalBytes / 1024 / 1024).toFixed(0)} MiB`).join('; ');
    console.log(`\nmodel-sync bench: ${describe}; ${os.cpus().length} CPUs; load average ${loadBefore[0]?.toFixed(2)} at start, ${loadAfter[0]?.toFixed(2)} at end; ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log('MiB/s = data set bytes / wall seconds; CPU s/GiB = user+sys of the command and its children per GiB; server = the same for s3rver + docker-registry while it ran\n');
    console.log(table(rows));
    if (rows.some((r) => r.phase === 'scale-out')) {
      console.log(`\nscale-out (large profile): plan --parts N, then N push --part I/N processes at once (a workspace each), then assemble, each N into a fresh registry;
x all = the streaming all's seconds / the group's total; parts peak RSS sum = what N parts on one node hold at most; digest = all: the assembled image digest is all's\n`);
      console.log(scaleOutTable(rows));
    }
    if (ratios.length) {
      console.log('\nmany-files per-byte cost / large profile per-byte cost (same phase and tool; 1 = no per-file overhead):\n');
      console.log(costTable(ratios));
    }
    const goals = targets(rows, ratios, SIZE_MIB);
    console.log(`\nissue 14's targets in this run (large profile unless said; ratios within this run only):\n`);
    console.log(targetTable(goals));
    console.log(`
notes: each tool reads the same data set from the same s3rver / into a fresh docker-registry, one run each
  (expect +-30% noise on writes). (ref) rows are the floors the targets compare to: one openssl sha256
  pass over the model files; one curl POST + monolithic PUT per blob of the shell layout, one after
  another. package: model-sync hashes its layer plan and records how push rebuilds the layers from
  model/ (no second copy); the shell peer writes a layer blob per file of 16 MiB or more and one per
  folder for the smaller files, for the host platform only. resume: the second run of a fetch killed
  with SIGKILL at about half its bytes; moved again = what it did not find on disk (from its log).
  push: skopeo and curl push the shell peer's layout; model-sync streams its layers from model/.
  all: model-sync all also registers the model in the Model Registry stand-in; the chain is rclone,
  then the package peer, then skopeo. workspace MiB = the largest size of the working folders seen.
  scale-out: seconds = plan + parts (all at once) + assemble; peak RSS = the largest single process;
  workspace = the parts' folders together; no registration (the streaming all also registers).`);
    const file = await writeJson(path.join(REPO_ROOT, 'bench/results'), {
      date: new Date().toISOString(),
      host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryMiB: Math.round(os.totalmem() / 1024 / 1024), node: process.version, loadAverageAtStart: loadBefore, loadAverageAtEnd: loadAfter },
      wallSeconds: (Date.now() - started) / 1000,
      tools: {
        aws: toolVersion(['aws', '--version']),
        rclone: toolVersion(['rclone', 'version']),
        skopeo: toolVersion(['skopeo', '--version']),
        registry: toolVersion(['docker-registry', '--version']),
        openssl: toolVersion(['openssl', 'version']),
        curl: toolVersion(['curl', '--version']),
      },
      settings: { phases: [...PHASES], partCounts: PART_COUNTS },
      datasets,
      rows,
      manyFilesCostRatios: ratios,
      targets: goals,
    });
    console.log(`\nresults: ${path.relative(REPO_ROOT, file)} (and bench/results/latest.json)`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    if (process.env.BENCH_KEEP === '1') process.stderr.write(`bench: kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
