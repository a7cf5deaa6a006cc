// The servers and objects the end-to-end template runs share (test/templates-run.test.ts,
// test/templates-scale-out.test.ts): a local S3 holding the model, a plain registry holding the
// busybox base, the Model Registry stand-in; the Secret and ConfigMap the pods mount; the
// template parameters that send the model from that S3 through that registry to that stand-in.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startS3Server, type S3Server } from '../../dev/s3-server.js';
import { startRegistry, type TestRegistry } from '../../dev/registry.js';
import { buildBusyboxBase } from '../../dev/busybox-base.js';
import { startStandin } from '../../dev/model-registry-standin.js';
import { missingTools } from './requirements.js';

type Obj = Record<string, any>;

export interface E2eServers {
  s3: S3Server;
  registry: TestRegistry;
  standinUrl: string;
  stop(): Promise<void>;
}

/** Why the end-to-end runs cannot run here, else false. */
export const e2eSkip = (): string | false => missingTools('registry', 'skopeo');

/** Starts the servers, puts `files` (key → body) into the bucket `models` and the base at library/busybox:latest. */
export async function startE2eServers(root: string, files: Record<string, Buffer | string>): Promise<E2eServers> {
  const s3 = await startS3Server('models');
  const registry = await startRegistry({ mode: 'plain' });
  const base = await buildBusyboxBase(path.join(root, 'busybox-base'));
  const copy = spawnSync('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${base.dir}:latest`, `docker://${registry.host}/library/busybox:latest`], { encoding: 'utf8' });
  assert.equal(copy.status, 0, copy.stderr);
  const standin = await startStandin();
  for (const [key, body] of Object.entries(files)) await s3.put(key, body);
  return {
    s3,
    registry,
    standinUrl: standin.url,
    async stop() {
      await s3.stop();
      await registry.stop();
      await standin.stop();
    },
  };
}

/** The source Secret and the metadata ConfigMap naming the model `modelName`. */
export function e2eObjects(servers: E2eServers, metadataName: string, modelName: string): Obj[] {
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'model-sync-source' }, stringData: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_S3_ENDPOINT: servers.s3.endpoint, AWS_S3_BUCKET: servers.s3.bucket } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: metadataName },
      data: { 'RegisteredModel.name': modelName, 'ModelVersion.name': '1.0.0', 'ModelArtifact.name': modelName, 'ModelArtifact.model_format_name': 'onnx' },
    },
  ];
}

/** The parameters sending the S3 prefix `sourceKey` to `<registry>/<repo>:1.0.0` and registering it, `extra` added. */
export function e2eParams(servers: E2eServers, sourceKey: string, repo: string, metadataName: string, extra: Record<string, string> = {}): Record<string, string> {
  const registry = new URL(servers.standinUrl);
  return {
    'source-type': 's3',
    'source-aws-key': sourceKey,
    'destination-type': 'oci',
    'destination-oci-uri': `${servers.registry.host}/${repo}:1.0.0`,
    'destination-oci-base-image': `${servers.registry.host}/library/busybox:latest`,
    'destination-oci-enable-tls-verify': 'false',
    'model-upload-intent': 'create_model',
    'metadata-configmap': metadataName,
    'registry-server-address': `${registry.protocol}//${registry.host}`,
    'registry-is-secure': 'false',
    ...extra,
  };
}
