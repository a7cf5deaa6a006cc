// `npm run bench`: model-sync's fetch, package and push beside peer tools on the same data and the
// same local servers, in one run. Prints a table and writes bench/results/bench-<time>.json.
// Ratios are printed, never asserted. Settings (environment):
//   BENCH_SIZE_MB   data set size in MiB (default 1024), split into BENCH_SHARDS large files (4)
//   BENCH_KEEP=1    keep the work directory (printed) for inspection
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, cleanEnv, REPO_ROOT } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { S3RVER_KEY as S3RVER_ACCESS_KEY, S3RVER_SECRET as S3RVER_SECRET_KEY, startS3Server } from '../dev/s3-server.js';
import { pushBaseImage } from './lib/base-image.js';
import { generateDataset, type Dataset } from './lib/dataset.js';
import { CommandFailed, measure, runToEnd, type CommandSpec } from './lib/measure.js';
import { addRatios, OURS, table, writeJson, type Row } from './lib/report.js';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MB ?? '1024');
const SHARDS = Number(process.env.BENCH_SHARDS ?? '4');
const BUCKET = 'models';
const PREFIX = 'bench-model';
const TAG = 'bench';

interface Totals {
  files: number;
  bytes: number;
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
    totals.bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return totals;
}

function toolVersion(argv: string[]): string {
  try {
    const [file, ...args] = argv;
    return execFileSync(file ?? '', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0] ?? '';
  } catch {
    return 'not installed';
  }
}

function ourCommand(step: string, env: Record<string, string>, work: string): CommandSpec {
  return {
    argv: [process.execPath, CLI, step],
    env: cleanEnv({ MODEL_SYNC_LOG_FORMAT: 'json', TERMINATION_MESSAGE_PATH: path.join(work, `termination-${step}`), ...env }),
  };
}

/** Times one command, then checks its output; failures become rows, not exceptions. */
async function timed(
  phase: Row['phase'],
  tool: string,
  cmd: CommandSpec,
  bytes: number,
  verify: () => Promise<string | undefined>,
): Promise<Row> {
  const row: Row = { phase, tool, command: cmd.argv, status: 'ok' };
  process.stderr.write(`bench: ${phase} with ${tool} ...\n`);
  try {
    const m = await measure(cmd);
    row.seconds = m.seconds;
    row.mibPerSecond = bytes / 1024 / 1024 / m.seconds;
    row.peakRssMiB = m.peakRssMiB;
    const problem = await verify();
    if (problem) Object.assign(row, { status: 'failed', note: problem });
  } catch (err) {
    const text = err instanceof CommandFailed ? err.output : String(err);
    const lastLine = text.trim().split('\n').filter(Boolean).pop() ?? String(err);
    Object.assign(row, { status: 'failed', note: lastLine.slice(0, 300) });
  }
  return row;
}

function expectTotals(dir: string, data: Dataset): () => Promise<string | undefined> {
  return async () => {
    const t = await totalsOf(dir);
    return t.files === data.files.length && t.bytes === data.totalBytes
      ? undefined
      : `output has ${t.files} files / ${t.bytes} bytes, expected ${data.files.length} / ${data.totalBytes}`;
  };
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ms-bench-'));
  const stops: (() => Promise<void>)[] = [];
  const rows: Row[] = [];
  try {
    process.stderr.write(`bench: work dir ${work}; generating ${SIZE_MIB} MiB in ${SHARDS} shards + small files\n`);
    const data = await generateDataset(path.join(work, 'data'), SIZE_MIB, SHARDS);

    const s3 = await startS3Server(BUCKET);
    const stopS3 = once(() => s3.stop());
    stops.push(stopS3);
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
    await runToEnd({ argv: ['aws', 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', s3.endpoint, data.dir, `s3://${BUCKET}/${PREFIX}/`], env: awsEnv });

    // ---- fetch ----
    const ours = path.join(work, 'ws-model-sync');
    rows.push(
      await timed(
        'fetch',
        OURS,
        ourCommand('fetch', {
          MODEL_SYNC_STORAGE_PATH: ours,
          MODEL_SYNC_SOURCE_TYPE: 's3',
          MODEL_SYNC_SOURCE_AWS_BUCKET: BUCKET,
          MODEL_SYNC_SOURCE_AWS_KEY: PREFIX,
          MODEL_SYNC_SOURCE_AWS_ENDPOINT: s3.endpoint,
          MODEL_SYNC_SOURCE_AWS_REGION: 'us-east-1',
          MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
          MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
        }, work),
        data.totalBytes,
        expectTotals(path.join(ours, 'model'), data),
      ),
    );
    const awsOut = path.join(work, 'fetch-aws');
    rows.push(
      await timed('fetch', 'aws s3 cp', { argv: ['aws', 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', s3.endpoint, `s3://${BUCKET}/${PREFIX}/`, awsOut], env: awsEnv }, data.totalBytes, expectTotals(awsOut, data)),
    );
    await rm(awsOut, { recursive: true, force: true });
    const rcloneOut = path.join(work, 'fetch-rclone');
    const rcloneEnv = cleanEnv({
      RCLONE_CONFIG: path.join(work, 'no-rclone.conf'),
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
      RCLONE_CONFIG_BENCH_ENDPOINT: s3.endpoint,
      RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
    });
    rows.push(await timed('fetch', 'rclone copy', { argv: ['rclone', 'copy', `bench:${BUCKET}/${PREFIX}`, rcloneOut], env: rcloneEnv }, data.totalBytes, expectTotals(rcloneOut, data)));
    await rm(rcloneOut, { recursive: true, force: true });
    await stopS3();

    // ---- package ----
    const oursFetched = rows.find((r) => r.phase === 'fetch' && r.tool === OURS)?.status === 'ok';
    let base: { reference: string } | { skip: string } = { skip: 'docker-registry is not installed' };
    let stopRegistry = async (): Promise<void> => {};
    if (registryAvailable()) {
      const reg = await startRegistry({ mode: 'plain' });
      stopRegistry = once(() => reg.stop());
      stops.push(stopRegistry);
      base = await pushBaseImage(reg.host, path.join(work, 'base'));
    }
    const shellLayout = path.join(work, 'layout-shell');
    if ('skip' in base) {
      rows.push({ phase: 'package', tool: OURS, command: [], status: 'skipped', note: base.skip });
      rows.push({ phase: 'package', tool: 'tar+sha256sum+jq', command: [], status: 'skipped', note: base.skip });
    } else {
      const regEnv = { MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' };
      rows.push(
        oursFetched
          ? await timed('package', OURS, ourCommand('package', { MODEL_SYNC_STORAGE_PATH: ours, MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base.reference, ...regEnv }, work), data.totalBytes, async () => {
              // model-sync's layout holds the base and the new manifests; push makes the model layers from model/.
              const index = JSON.parse(await readFile(path.join(ours, 'image', 'index.json'), 'utf8').catch(() => '{}')) as { manifests?: unknown[] };
              return index.manifests?.length ? undefined : 'no image index in image/index.json';
            })
          : { phase: 'package', tool: OURS, command: [], status: 'skipped', note: 'model-sync fetch did not produce a workspace' },
      );
      rows.push(
        await timed('package', 'tar+sha256sum+jq', { argv: [path.join(REPO_ROOT, 'bench/peers/package-layout.sh'), data.dir, base.reference, shellLayout, TAG], env: cleanEnv() }, data.totalBytes, async () =>
          (await totalsOf(shellLayout)).bytes >= data.totalBytes ? undefined : 'image layout is smaller than the model',
        ),
      );
    }
    await stopRegistry();

    // ---- push: each tool into a fresh registry, so no blob is already there ----
    const oursPackaged = rows.find((r) => r.phase === 'package' && r.tool === OURS)?.status === 'ok';
    const shellPackaged = rows.find((r) => r.phase === 'package' && r.tool !== OURS)?.status === 'ok';
    if (!registryAvailable()) {
      rows.push({ phase: 'push', tool: OURS, command: [], status: 'skipped', note: 'docker-registry is not installed' });
    } else {
      const target = async (run: (reg: TestRegistry) => Promise<Row>): Promise<void> => {
        const reg = await startRegistry({ mode: 'plain' });
        const stop = once(() => reg.stop());
        stops.push(stop);
        try {
          rows.push(await run(reg));
        } finally {
          await stop();
        }
      };
      const pushedExists = (reg: TestRegistry, ref: string) => async () => {
        try {
          await runToEnd({ argv: ['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/${ref}`], env: cleanEnv() });
          return undefined;
        } catch (err) {
          return `pushed image not found: ${String(err).slice(0, 200)}`;
        }
      };
      if (oursPackaged) {
        await target((reg) =>
          timed('push', OURS, ourCommand('push', { MODEL_SYNC_STORAGE_PATH: ours, MODEL_SYNC_DESTINATION_TYPE: 'oci', MODEL_SYNC_DESTINATION_OCI_URI: `${reg.host}/bench/model:${TAG}`, MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false' }, work), data.totalBytes, pushedExists(reg, `bench/model:${TAG}`)),
        );
      } else {
        rows.push({ phase: 'push', tool: OURS, command: [], status: 'skipped', note: 'no image layout from model-sync package' });
      }
      // skopeo pushes the shell peer's layout: model-sync's image/ holds no model layer blobs (its push
      // streams them from model/), so skopeo cannot read it. Same files, same layer contents.
      if (shellPackaged) {
        const layout = `oci:${shellLayout}:${TAG}`;
        await target((reg) =>
          timed('push', 'skopeo copy --preserve-digests', { argv: ['skopeo', 'copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', layout, `docker://${reg.host}/bench/model:${TAG}`], env: cleanEnv() }, data.totalBytes, pushedExists(reg, `bench/model:${TAG}`)),
        );
      } else {
        rows.push({ phase: 'push', tool: 'skopeo copy --preserve-digests', command: [], status: 'skipped', note: 'no image layout to push' });
      }
    }

    addRatios(rows);
    console.log(`\nmodel-sync bench: ${data.files.length} files, ${(data.totalBytes / 1024 / 1024).toFixed(0)} MiB; ${os.cpus().length} CPUs; MiB/s = data set bytes / wall seconds\n`);
    console.log(table(rows));
    console.log(`
notes: each tool reads the same data set from the same s3rver / into a fresh docker-registry, one run each
  (expect +-30% noise on writes). package: model-sync hashes the tar layers of its layer plan (a layer per
  shard, the small files in one shared layer) and records how push rebuilds them from model/ (no second
  copy of the model); the shell peer writes a layer blob per file, for the host platform only (model-sync
  keeps every platform of the base). push: skopeo pushes the shell peer's layout (the same shard layers,
  the small files one layer each); model-sync streams its layers from model/.`);
    const file = await writeJson(path.join(REPO_ROOT, 'bench/results'), {
      date: new Date().toISOString(),
      host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryMiB: Math.round(os.totalmem() / 1024 / 1024), node: process.version },
      tools: {
        aws: toolVersion(['aws', '--version']),
        rclone: toolVersion(['rclone', 'version']),
        skopeo: toolVersion(['skopeo', '--version']),
        registry: toolVersion(['docker-registry', '--version']),
      },
      dataset: { files: data.files, totalBytes: data.totalBytes },
      rows,
    });
    console.log(`\nresults: ${path.relative(REPO_ROOT, file)}`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    if (process.env.BENCH_KEEP === '1') process.stderr.write(`bench: kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
