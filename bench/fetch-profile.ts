// `node --import tsx bench/fetch-profile.ts`: model-sync fetch beside rclone on the bench's large
// profile, against s3rver or Ceph RGW, alternating, several rounds in one run; model-sync runs under
// `node --cpu-prof` and the profile's self time is summed per package/file (where the CPU goes).
// Settings (environment):
//   PROFILE_S3       s3rver | rgw (default s3rver)
//   BENCH_SIZE_MB    data size in MiB (default 1024), BENCH_SHARDS shards (default 4)
//   PROFILE_MANY     a file count: the many-files profile (100 KiB-1 MiB each) instead of the large one
//   PROFILE_ROUNDS   rounds of (model-sync, rclone) (default 2)
//   PROFILE_EXTRA    extra model-sync environment, `K=V,K=V` (e.g. MODEL_SYNC_S3_PART_SIZE=16777216)
//   PROFILE_VARIANTS more model-sync runs per round with extra environment, `name:K=V,K=V|name2:K=V`
//   PROFILE_CPU=0    no --cpu-prof (its sampling costs a few percent)
//   PROFILE_BASE_CLI another build's dist/src/cli.js, run beside this one each round (A/B under the same load)
//   PROFILE_PERF_DIR each command runs under `perf record -F 1999 -g` into <dir>/<tool>-<round>.data
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, cleanEnv } from '../dev/cli.js';
import { S3RVER_KEY, S3RVER_SECRET, startS3Server } from '../dev/s3-server.js';
import { generateDataset, largeProfile, manyFilesProfile } from './lib/dataset.js';
import { measure, runToEnd, serverCpuSeconds, type CommandSpec } from './lib/measure.js';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MB ?? '1024');
const SHARDS = Number(process.env.BENCH_SHARDS ?? '4');
const MANY = Number(process.env.PROFILE_MANY ?? '0');
const ROUNDS = Number(process.env.PROFILE_ROUNDS ?? '2');
const SERVER = process.env.PROFILE_S3 ?? 's3rver';
const CPU_PROF = process.env.PROFILE_CPU !== '0';
const EXTRA = Object.fromEntries((process.env.PROFILE_EXTRA ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const PERF_DIR = process.env.PROFILE_PERF_DIR;
const perf = (spec: CommandSpec, name: string): CommandSpec => (PERF_DIR ? { ...spec, argv: ['perf', 'record', '-q', '-F', '1999', '-g', '-o', path.join(PERF_DIR, `${name}.data`), '--', ...spec.argv] } : spec);
const BASE_CLI = process.env.PROFILE_BASE_CLI;
const VARIANTS = (process.env.PROFILE_VARIANTS ?? '').split('|').filter(Boolean).map((v) => {
  const [name = v, kvs = ''] = v.split(':');
  return { name, env: Object.fromEntries(kvs.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string])) };
});
const BUCKET = 'models';
const GIB = 1024 ** 3;

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time (ms) per script (node_modules package or file) and the top functions. */
function summarise(p: CpuProfile): { byScript: [string, number][]; byFunction: [string, number][]; totalMs: number } {
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
  const byScript = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalMs = 0;
  for (const n of p.nodes) {
    const ms = self.get(n.id) ?? 0;
    if (!ms) continue;
    totalMs += ms;
    const url = n.callFrame.url;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    const script = pkg ?? (url ? url.replace(/^.*\/(dist|src)\//, '$1/').replace(/^node:/, 'node:') : `(${n.callFrame.functionName || 'native'})`);
    byScript.set(script, (byScript.get(script) ?? 0) + ms);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${script}:${n.callFrame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  const top = (m: Map<string, number>, k: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
  return { byScript: top(byScript, 15), byFunction: top(byFunction, 25), totalMs };
}

async function startServer(): Promise<{ endpoint: string; key: string; secret: string; stop: () => Promise<void> }> {
  if (SERVER === 'rgw') {
    // Imported only when asked for: dev/rgw.ts needs Ceph installed.
    const { startRgw, RGW_ACCESS_KEY, RGW_SECRET_KEY } = await import('../dev/rgw.js');
    const rgw = await startRgw({ storeBytes: Math.ceil(SIZE_MIB * 1024 * 1024 * 2.5) + GIB });
    return { endpoint: rgw.endpoint, key: RGW_ACCESS_KEY, secret: RGW_SECRET_KEY, stop: () => rgw.stop() };
  }
  const s3 = await startS3Server(BUCKET);
  return { endpoint: s3.endpoint, key: S3RVER_KEY, secret: S3RVER_SECRET, stop: () => s3.stop() };
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ms-fetch-profile-'));
  const server = await startServer();
  try {
    const awsEnv = cleanEnv({
      AWS_ACCESS_KEY_ID: server.key,
      AWS_SECRET_ACCESS_KEY: server.secret,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: path.join(work, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'none'),
      AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
    });
    const data = await generateDataset(path.join(work, 'data'), MANY ? manyFilesProfile(MANY, 100 * 1024, 1024 * 1024) : largeProfile(SIZE_MIB, SHARDS));
    await runToEnd({ argv: ['aws', 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', server.endpoint, data.dir, `s3://${BUCKET}/p/`], env: awsEnv });
    await rm(data.dir, { recursive: true, force: true });
    const gib = data.totalBytes / GIB;
    const profDir = path.join(work, 'prof');
    const ours = (round: number, cli = CLI, more: Record<string, string> = {}): CommandSpec => ({
      argv: [process.execPath, ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), cli, 'fetch'],
      env: cleanEnv({
        MODEL_SYNC_LOG_FORMAT: 'json',
        MODEL_SYNC_STORAGE_PATH: path.join(work, `ws-${round}`),
        MODEL_SYNC_SOURCE_TYPE: 's3',
        MODEL_SYNC_SOURCE_AWS_BUCKET: BUCKET,
        MODEL_SYNC_SOURCE_AWS_KEY: 'p',
        MODEL_SYNC_SOURCE_AWS_ENDPOINT: server.endpoint,
        MODEL_SYNC_SOURCE_AWS_REGION: 'us-east-1',
        MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: server.key,
        MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: server.secret,
        TERMINATION_MESSAGE_PATH: path.join(work, 'termination'),
        ...EXTRA,
        ...more,
      }),
    });
    const rclone = (round: number): CommandSpec => ({
      argv: ['rclone', 'copy', `bench:${BUCKET}/p`, path.join(work, `rclone-${round}`)],
      env: cleanEnv({
        RCLONE_CONFIG: path.join(work, 'none.conf'),
        RCLONE_CONFIG_BENCH_TYPE: 's3',
        RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: server.key,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: server.secret,
        RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint,
        RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
      }),
    });
    console.log(`fetch-profile: ${SERVER}, ${data.files.length} files, ${(data.totalBytes / 1024 / 1024).toFixed(0)} MiB, ${ROUNDS} rounds, load ${os.loadavg()[0]?.toFixed(2)}, extra ${JSON.stringify(EXTRA)}`);
    console.log('tool        round  seconds  MiB/s  CPU s/GiB  server CPU s/GiB  peak RSS MiB');
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, spec, out] of [
        ...(BASE_CLI ? ([['base', ours(round, BASE_CLI), `ws-${round}`]] as const) : []),
        ['model-sync', ours(round), `ws-${round}`],
        ...VARIANTS.map((v) => [v.name, ours(round, CLI, v.env), `ws-${round}`] as const),
        ['rclone', rclone(round), `rclone-${round}`],
      ] as const) {
        const before = await serverCpuSeconds();
        const m = await measure(perf(spec, `${name}-${round}`));
        const server = (await serverCpuSeconds()) - before;
        console.log(
          `${name.padEnd(11)} ${String(round).padEnd(6)} ${m.seconds.toFixed(2).padEnd(8)} ${(data.totalBytes / 1024 / 1024 / m.seconds).toFixed(0).padEnd(6)} ${((m.cpuSeconds ?? NaN) / gib).toFixed(2).padEnd(10)} ${(server / gib).toFixed(2).padEnd(17)} ${m.peakRssMiB?.toFixed(0)}`,
        );
        await rm(path.join(work, out), { recursive: true, force: true });
      }
    }
    if (CPU_PROF) {
      for (const f of (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile')).slice(-1)) {
        const s = summarise(JSON.parse(await readFile(path.join(profDir, f), 'utf8')) as CpuProfile);
        console.log(`\nmain thread profile of the last model-sync run: ${(s.totalMs / 1000).toFixed(2)} s sampled`);
        for (const [k, ms] of s.byScript) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${((100 * ms) / s.totalMs).toFixed(1).padStart(5)} %  ${k}`);
        console.log('top functions (self time):');
        for (const [k, ms] of s.byFunction) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${k}`);
      }
      if (process.env.PROFILE_KEEP) console.log(`profiles kept in ${profDir}`);
    }
  } finally {
    await server.stop();
    if (!process.env.PROFILE_KEEP) await rm(work, { recursive: true, force: true });
  }
}

await main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
