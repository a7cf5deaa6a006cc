// Helpers for tests against the Model Registry stand-in: metadata ConfigMap folders (plain or laid
// out as a mounted ConfigMap volume) and the environment of a CLI run.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../../dev/cli.js';
import type { Standin } from '../../dev/model-registry-standin.js';

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
