// Starts s3rver (npm, filesystem-backed) on 127.0.0.1 at a free port as a child process.
// s3rver 3.7.1 needs --openssl-legacy-provider (its ListObjectsV2 continuation tokens use DES).
// It checks the access key id (S3RVER) but not SigV4 signatures, so a wrong secret goes unnoticed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type S3Client, PutObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { quietSdkNotices } from '../src/config/process-env.js';
import { createS3Client } from '../src/s3/client.js';
import { REPO_ROOT } from './cli.js';
import { freePort } from './ports.js';

export const S3RVER_KEY = 'S3RVER';
export const S3RVER_SECRET = 'S3RVER';

export { freePort };

export interface S3Server {
  endpoint: string;
  bucket: string;
  client: S3Client;
  put(key: string, body: Buffer | string): Promise<void>;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `serviceEndpoint`: the domain s3rver takes as its own (default amazonaws.com); any other host
 * name is read as a virtual-hosted bucket, so a test reaching it as s3.<domain> sets <domain>.
 */
export async function startS3Server(bucket = 'models', opts: { serviceEndpoint?: string } = {}): Promise<S3Server> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-s3rver-'));
  const port = await freePort();
  const bin = path.join(REPO_ROOT, 'node_modules/.bin/s3rver');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
  env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --openssl-legacy-provider`.trim();
  const child: ChildProcess = spawn(bin, ['-d', dir, '-a', '127.0.0.1', '-p', String(port), '-s', ...(opts.serviceEndpoint ? ['--service-endpoint', opts.serviceEndpoint] : []), '--configure-bucket', bucket], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(port, child, () => stderr);
  // The product's own client factory (path-style, checksums only when required), SDK notice off as in the CLI.
  quietSdkNotices();
  const client = createS3Client({ bucket, key: '', region: 'us-east-1', endpoint, accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_SECRET }, 2);
  return {
    endpoint,
    bucket,
    client,
    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilAnswering(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`s3rver exited with ${child.exitCode}: ${stderr()}`);
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`s3rver did not answer on port ${port}: ${stderr()}`);
}
