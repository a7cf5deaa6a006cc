// Helpers for tests against the Model Registry stand-in: metadata ConfigMap folders (plain or laid
// out as a mounted ConfigMap volume), the environment of a CLI run, and one stand-in per test file.
import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { tempDir } from '../../dev/cli.js';
import { buildMinimalBase } from '../../dev/minimal-base.js';
import { startStandin, type Standin } from '../../dev/model-registry-standin.js';
import { ModelRegistryClient } from '../../src/model-registry/client.js';
import type { ModelArtifact } from '../../src/model-registry/types.js';

/** A metadata folder with one file per key; `volume` lays it out as kubelet does (..data symlinks). */
export async function metadataFolder(files: Record<string, string>, opts: { volume?: boolean } = {}): Promise<string> {
  const dir = await tempDir('ms-meta-');
  if (!opts.volume) {
    for (const [k, v] of Object.entries(files)) await writeFile(path.join(dir, k), v);
    return dir;
  }
  const stamp = '..2026_11_25_10_00_00.123456789';
  await mkdir(path.join(dir, stamp));
  for (const [k, v] of Object.entries(files)) await writeFile(path.join(dir, stamp, k), v);
  await symlink(stamp, path.join(dir, '..data'));
  for (const k of Object.keys(files)) await symlink(path.join('..data', k), path.join(dir, k));
  return dir;
}

/**
 * A path preflight can check without servers (it probes the source, the destination and the base
 * image before it asks Model Registry): a small model file, an image layout folder to push to, and
 * the minimal base image as a layout, all under `dir`.
 */
export async function localPathEnv(dir: string): Promise<Record<string, string>> {
  await writeFile(path.join(dir, 'model.bin'), 'weights');
  const base = await buildMinimalBase(path.join(dir, 'base'));
  return {
    MODEL_SYNC_SOURCE_TYPE: 'uri',
    MODEL_SYNC_SOURCE_URI: `file://${path.join(dir, 'model.bin')}`,
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `oci:${path.join(dir, 'pushed')}:1`,
    MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base.reference,
  };
}

export function registryEnv(standin: Standin, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    MODEL_SYNC_REGISTRY_SERVER_ADDRESS: standin.url,
    MODEL_SYNC_REGISTRY_IS_SECURE: 'false',
    ...extra,
  };
}

export const SAMPLE_CREATE_MODEL: Record<string, string> = {
  'RegisteredModel.name': 'sentiment',
  'RegisteredModel.description': 'A sentiment model.\nTrained on text.\n',
  'RegisteredModel.owner': 'data-science-team',
  'RegisteredModel.custom_properties': '{"project": "sentiment-analysis-v2", "team": "nlp-research"}',
  'ModelVersion.name': '1.0.0',
  'ModelVersion.author': 'Jane Smith',
  'ModelVersion.custom_properties': '{"accuracy": 0.95, "epochs": 3}',
  'ModelArtifact.name': 'sentiment-analyzer',
  'ModelArtifact.model_format_name': 'onnx',
  'ModelArtifact.model_format_version': '1',
  'ModelArtifact.model_source_kind': 'transfer_job',
  'ModelArtifact.model_source_class': 'async-upload',
  'ModelArtifact.model_source_group': 'team-ns',
  'ModelArtifact.model_source_name': 'sentiment-upload-job',
  'ModelArtifact.custom_properties': '{"model_size_mb": 438, "supported_languages": ["en", "es", "fr"]}',
};

/**
 * One stand-in and a client of it for the calling test file (started before, stopped after its
 * tests), with the temp folders the file makes, removed at the end.
 */
export function useStandin() {
  let standin: Standin | undefined;
  let client: ModelRegistryClient | undefined;
  let pathEnv: Record<string, string> = {};
  const dirs: string[] = [];
  before(async () => {
    standin = await startStandin();
    pathEnv = await localPathEnv(kept(await tempDir('ms-path-')));
    client = new ModelRegistryClient({ baseUrl: `${standin.url}/api/model_registry/v1alpha3`, verifyTls: false }, { baseDelayMs: 5 });
  });
  after(async () => {
    client?.close();
    await standin?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const kept = (d: string) => (dirs.push(d), d);
  const mr = {
    get standin(): Standin {
      assert.ok(standin, 'the stand-in is started before the tests');
      return standin;
    },
    get client(): ModelRegistryClient {
      assert.ok(client, 'the client is made before the tests');
      return client;
    },
    dir: async (prefix: string) => kept(await tempDir(prefix)),
    /** A metadata ConfigMap folder laid out as a mounted volume. */
    meta: async (files: Record<string, string>) => kept(await metadataFolder(files, { volume: true })),
    /** Settings every step of a run shares (preflight takes all parameters and checks the path: a local one). */
    env: (workspace: string, metadata: string | undefined, intent: string, extra: Record<string, string | undefined> = {}) =>
      registryEnv(mr.standin, {
        MODEL_SYNC_STORAGE_PATH: workspace,
        MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
        MODEL_SYNC_MODEL_UPLOAD_INTENT: intent,
        ...pathEnv,
        ...extra,
      }),
    /** The one artifact under a version. */
    artifactOf: async (versionId: string): Promise<ModelArtifact> => {
      const list = await mr.client.listModelVersionArtifacts(versionId);
      assert.equal(list.length, 1, 'one artifact under the version');
      return list[0]!;
    },
  };
  return mr;
}
