// A throw-away single-node Ceph (one monitor, one memstore OSD, radosgw's beast frontend) on
// 127.0.0.1, in a temp dir of its own: a real S3 for the tests. Unlike s3rver it checks SigV4
// signatures, enforces the 5 MiB minimum part and lists and aborts multipart uploads.
// Needs Debian's ceph-mon, ceph-osd, radosgw, ceph-common (Ceph 16). No cephx, no mgr, msgr2 only.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { quietSdkNotices } from '../src/config/process-env.js';
import { createS3Client } from '../src/s3/client.js';
import { freePort } from './ports.js';
import type { S3Server } from './s3-server.js';

export const RGW_ACCESS_KEY = 'rgwtestaccesskey';
export const RGW_SECRET_KEY = 'rgwtestsecretkey';
/** RGW refuses bucket names under 3 characters. */
export const RGW_DEFAULT_BUCKET = 'models';

export interface RgwOptions {
  /** Buckets created at start; the first is `bucket`. Default: ['models']. */
  buckets?: string[];
  /**
   * Serve https with this certificate (PEM, may hold the chain) and key. `endpoint` is then the
   * https one; `httpEndpoint` stays plain http for the harness's own client.
   */
  tls?: { certPath: string; keyPath: string };
  /** Memstore capacity (data is held in RAM, about 1.6x what is stored). Default 4 GiB. */
  storeBytes?: number;
}

export interface MultipartUploadInfo {
  key: string;
  uploadId: string;
}

export interface Rgw extends S3Server {
  accessKey: string;
  secretKey: string;
  /** Plain-http endpoint, equal to `endpoint` unless `tls` was given. */
  httpEndpoint: string;
  /** The cluster's directory (ceph.conf, logs). */
  dir: string;
  /** Incomplete multipart uploads in `bucket` (under `prefix`), as ListMultipartUploads reports them. */
  listMultipartUploads(bucket: string, prefix?: string): Promise<MultipartUploadInfo[]>;
  /** Runs `radosgw-admin` on this cluster (quotas, users), returning its stdout. */
  admin(args: string[]): Promise<string>;
}

const OSD_PORT_RANGE = 32;

export async function startRgw(opts: RgwOptions = {}): Promise<Rgw> {
  const buckets = opts.buckets ?? [RGW_DEFAULT_BUCKET];
  const bucket = buckets[0];
  if (bucket === undefined) throw new Error('startRgw: at least one bucket');
  // radosgw would start without them and then fail every handshake ("no shared cipher").
  if (opts.tls) for (const f of [opts.tls.certPath, opts.tls.keyPath]) await readFile(f).catch((err: Error) => Promise.reject(new Error(`startRgw: tls: ${err.message}`)));
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-rgw-'));
  const cluster = new Cluster(dir);
  try {
    const [monPort = 0, rgwPort = 0, tlsPort = 0] = await distinctFreePorts(3);
    const osdPorts = await freePortRange(OSD_PORT_RANGE);
    const conf = path.join(dir, 'ceph.conf');
    const fsid = randomUUID();
    const frontend = [`beast endpoint=127.0.0.1:${rgwPort}`];
    if (opts.tls) frontend.push(`ssl_endpoint=127.0.0.1:${tlsPort}`, `ssl_certificate=${opts.tls.certPath}`, `ssl_private_key=${opts.tls.keyPath}`);
    await writeFile(conf, cephConf({ dir, fsid, monPort, osdPorts, storeBytes: opts.storeBytes ?? 4 * 1024 ** 3, frontends: frontend.join(' ') }));
    const c = ['-c', conf];

    await cluster.run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, path.join(dir, 'monmap')]);
    await cluster.run('ceph-mon', [...c, '-i', 'a', '--mkfs', '--monmap', path.join(dir, 'monmap')]);
    cluster.daemon('ceph-mon', [...c, '-i', 'a']);

    // `osd new` with the same uuid is idempotent: retried until the monitor answers.
    const osdUuid = randomUUID();
    const osdId = (await cluster.until('the monitor to answer', 30_000, () => cluster.run('ceph', [...c, '--connect-timeout', '2', 'osd', 'new', osdUuid]))).trim();
    await mkdir(path.join(dir, `osd.${osdId}`));
    await cluster.run('ceph-osd', [...c, '-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    cluster.daemon('ceph-osd', [...c, '-i', osdId]);
    await cluster.until('the OSD to be up', 60_000, async () => {
      const stat = JSON.parse(await cluster.run('ceph', [...c, 'osd', 'stat', '-f', 'json'])) as { num_up_osds?: number };
      if (stat.num_up_osds !== 1) throw new Error(`num_up_osds ${stat.num_up_osds}`);
    });

    cluster.daemon('radosgw', [...c, '-n', 'client.rgw']);
    const httpEndpoint = `http://127.0.0.1:${rgwPort}`;
    const endpoint = opts.tls ? `https://127.0.0.1:${tlsPort}` : httpEndpoint;
    await cluster.until('radosgw to answer', 120_000, () => answers(httpEndpoint));
    if (opts.tls) await cluster.until('radosgw to answer over TLS', 10_000, () => answers(endpoint));
    await cluster.run('radosgw-admin', [...c, 'user', 'create', '--uid=test', '--display-name=test', `--access-key=${RGW_ACCESS_KEY}`, `--secret-key=${RGW_SECRET_KEY}`]);

    quietSdkNotices();
    const client = createS3Client({ bucket, key: '', region: 'us-east-1', endpoint: httpEndpoint, accessKeyId: RGW_ACCESS_KEY, secretAccessKey: RGW_SECRET_KEY }, 2);
    cluster.onStop(() => client.destroy());
    for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));

    return {
      endpoint,
      httpEndpoint,
      bucket,
      dir,
      client,
      accessKey: RGW_ACCESS_KEY,
      secretKey: RGW_SECRET_KEY,
      async put(key, body) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      },
      async createBucket(name) {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      },
      async listMultipartUploads(bucket, prefix) {
        const out: MultipartUploadInfo[] = [];
        let keyMarker: string | undefined;
        let uploadIdMarker: string | undefined;
        for (;;) {
          const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
          for (const u of page.Uploads ?? []) out.push({ key: u.Key ?? '', uploadId: u.UploadId ?? '' });
          if (!page.IsTruncated) return out;
          keyMarker = page.NextKeyMarker;
          uploadIdMarker = page.NextUploadIdMarker;
        }
      },
      admin: (args) => cluster.run('radosgw-admin', [...c, ...args]),
      stop: () => cluster.stop(),
    };
  } catch (err) {
    const logs = await cluster.logTail();
    await cluster.stop();
    throw new Error(`startRgw: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}

function cephConf(o: { dir: string; fsid: string; monPort: number; osdPorts: [number, number]; storeBytes: number; frontends: string }): string {
  return `[global]
fsid = ${o.fsid}
mon host = v2:127.0.0.1:${o.monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
# radosgw is a client; its mon connection mode defaults to "secure", which auth none cannot do (it would hang 300 s)
ms mon client mode = crc
# the OSD's ports: a range of our own, so parallel clusters do not take each other's
ms bind port min = ${o.osdPorts[0]}
ms bind port max = ${o.osdPorts[1]}
auth cluster required = none
auth service required = none
auth client required = none
run dir = ${o.dir}
pid file = ${o.dir}/$name.pid
log file = ${o.dir}/$name.log
admin socket = ${o.dir}/$name.asok
crash dir = ${o.dir}/crash
mon data = ${o.dir}/mon.$id
osd data = ${o.dir}/osd.$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# map updates are batched for 1 s by default: each of radosgw's pool creations would take ~2 s
paxos propose interval = 0.05
paxos min wait = 0.01
[osd]
osd objectstore = memstore
memstore device bytes = ${o.storeBytes}
osd memory target = 939524096
[client.rgw]
rgw frontends = ${o.frontends}
`;
}

/** The daemons of one cluster (run in the foreground as our children, so only ours are killed) and its dir. */
class Cluster {
  private readonly children: ChildProcess[] = [];
  private readonly cleanups: (() => void)[] = [];
  private stopped = false;
  private readonly killOnExit = () => {
    for (const ch of this.children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
  };

  constructor(readonly dir: string) {
    // A test process that exits without stop() must not leave daemons behind.
    process.once('exit', this.killOnExit);
  }

  run(cmd: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { cwd: this.dir, timeout: 30_000, env: cephEnv() }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.filter((a) => !a.startsWith('--secret')).join(' ')}: ${(stderr || err.message).trim().split('\n').slice(-3).join(' | ')}`));
        else resolve(stdout);
      });
    });
  }

  daemon(cmd: string, args: string[]): void {
    const child = spawn(cmd, [...args, '-f'], { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'], env: cephEnv() });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', () => undefined);
    Object.assign(child, { describe: () => `${cmd} exited (${child.exitCode ?? child.signalCode}): ${stderr.trim().split('\n').slice(-5).join(' | ')}` });
    this.children.push(child);
  }

  /** Retries `probe` until it resolves; fails at once when one of our daemons has exited. */
  async until<T>(what: string, timeoutMs: number, probe: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      const dead = this.children.find((ch) => ch.exitCode !== null || ch.signalCode !== null);
      if (dead) throw new Error(`while waiting for ${what}: ${(dead as unknown as { describe(): string }).describe()}`);
      try {
        return await probe();
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${(last as Error)?.message ?? last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  onStop(fn: () => void): void {
    this.cleanups.push(fn);
  }

  async logTail(lines = 8): Promise<string> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith('.log'));
    const parts: string[] = [];
    for (const n of names.sort()) {
      const text = await readFile(path.join(this.dir, n), 'utf8').catch(() => '');
      parts.push(`--- ${n}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /** SIGKILL: the cluster is throw-away (SIGTERM takes ~2 s per daemon). Waits until each is gone. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const fn of this.cleanups) fn();
    await Promise.all(
      this.children.map((ch) => {
        if (ch.exitCode !== null || ch.signalCode !== null) return undefined;
        const gone = new Promise((r) => ch.once('exit', r));
        ch.kill('SIGKILL');
        return gone;
      }),
    );
    process.removeListener('exit', this.killOnExit);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The Ceph tools read CEPH_* variables (e.g. CEPH_ARGS); none from the caller's shell. */
function cephEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CEPH_')) env[k] = v;
  return env;
}

async function answers(endpoint: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const mod = endpoint.startsWith('https:') ? https : http;
    const req = mod.get(endpoint, { timeout: 2000, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve();
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
  });
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/**
 * A block of `size` ports below the kernel's ephemeral range (32768+, where freePort's and outgoing
 * connections' ports come from), at a random base and each free right now: another cluster
 * started in parallel by another test file picks another block. The OSD binds its four ports early.
 */
async function freePortRange(size: number): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + randomInt(0, Math.floor(12_000 / size)) * size;
    let free = true;
    for (let p = base; p < base + size && free; p++) free = await portIsFree(p);
    if (free) return [base, base + size - 1];
  }
  throw new Error('startRgw: no free block of ports for the OSD');
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
