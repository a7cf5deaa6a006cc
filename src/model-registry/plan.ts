// What an upload intent will write to Model Registry, worked out from the settings and the
// metadata ConfigMap before any call is made (so that a missing name fails before bytes move).
import { ConfigError } from '../errors.js';
import { encodeCustomProperties } from './custom-properties.js';
import { EMPTY_METADATA, loadMetadata, type Metadata } from './metadata.js';
import type { CustomProperties, ModelArtifactFields } from './types.js';
import type { UploadIntent } from '../workspace/records.js';

export type Intent = UploadIntent;

/** Upstream's defaults when the ConfigMap names no version. */
export const DEFAULT_VERSION_NAME = '1.0.0';

/** The ModelArtifact source fields that identify the job that wrote them (the UI: transfer_job/async-upload/<ns>/<job>). */
export interface JobIdentity {
  modelSourceKind?: string;
  modelSourceClass?: string;
  modelSourceGroup?: string;
  modelSourceName?: string;
}

export interface RegistrationPlan {
  intent: Intent;
  metadata: Metadata;
  /** Given ids (flags, else ConfigMap). */
  modelId?: string;
  modelVersionId?: string;
  modelArtifactId?: string;
  model: { name?: string; description?: string; owner?: string; customProperties?: CustomProperties };
  version: { name: string; description?: string; author?: string; customProperties?: CustomProperties };
  /** `name` unset: the registered model's name (create_version fetches the model by id). */
  artifact: { name?: string; fields: ModelArtifactFields };
  /** update_artifact: also write `artifact.fields` onto the existing artifact (else only uri and state, as upstream). */
  updateArtifactMetadata: boolean;
  /** Present when the ConfigMap sets enough source fields to recognise this job's artifacts. */
  identity?: JobIdentity;
}

/** The settings a plan is made from (config/settings.ts reads them). */
export interface PlanInputs {
  intent: Intent;
  metadataFolder: string | undefined;
  /** How the metadata folder setting is named in messages. */
  metadataSetting: string;
  modelId?: string;
  modelVersionId?: string;
  modelArtifactId?: string;
  author?: string;
  modelIdSetting: string;
  modelArtifactIdSetting: string;
  /** --update-artifact-metadata (register and all; false elsewhere). */
  updateArtifactMetadata?: boolean;
}

/**
 * `lenient` (mark-failed): a broken or incomplete ConfigMap must not stop the clean-up, so
 * metadata errors and missing names are tolerated; the ids recorded in the workspace still count.
 */
export async function planFromInputs(
  inputs: PlanInputs,
  opts: { lenient?: boolean; onLenientError?: (err: Error) => void; warn?: (message: string) => void } = {},
): Promise<RegistrationPlan> {
  const intent = inputs.intent;
  const folderSetting = inputs.metadataSetting;
  let metadata: Metadata;
  try {
    metadata = await loadMetadata(inputs.metadataFolder, `${folderSetting}, default /etc/model-metadata`, opts.warn ? { warn: opts.warn } : {});
  } catch (err) {
    if (!opts.lenient || !(err instanceof ConfigError)) throw err;
    opts.onLenientError?.(err);
    metadata = { ...EMPTY_METADATA, keys: [] };
  }
  const where = metadata.folder ? ` in ${metadata.folder} (${folderSetting})` : ` (no metadata ConfigMap: set ${folderSetting})`;
  const { registeredModel: rm, modelVersion: mv, modelArtifact: ma } = metadata;

  // An empty value counts as unset, as upstream's Python `or` (the UI writes e.g. ModelVersion.name: "").
  const given = (value: string | undefined) => (value === '' ? undefined : value);
  const modelId = inputs.modelId ?? given(rm.id);
  const modelVersionId = inputs.modelVersionId ?? given(mv.id);
  const modelArtifactId = inputs.modelArtifactId ?? given(ma.id);
  const modelName = given(rm.name);
  const versionName = given(mv.name);

  const check = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (!opts.lenient) throw err;
      opts.onLenientError?.(err as Error);
    }
  };
  check(() => requireForIntent());
  function requireForIntent(): void {
    if (intent === 'create_model') {
      if (modelName && given(rm.id)) throw new ConfigError(`create_model: set RegisteredModel.name or RegisteredModel.id, not both${where}`);
      if (!modelName) throw new ConfigError(`RegisteredModel name is required for create_model intent: create_model needs the metadata ConfigMap key RegisteredModel.name${where}`);
    }
    if (intent === 'create_version' && !modelId) {
      throw new ConfigError(`create_version needs ${inputs.modelIdSetting} (or the ConfigMap key RegisteredModel.id${where})`);
    }
    if (intent === 'create_version' && !versionName) {
      // upstream's fast-fail check, in its words: create_version has no default version name
      throw new ConfigError(`ModelVersion name is required for create_version intent: set the metadata ConfigMap key ModelVersion.name${where}`);
    }
    if (intent === 'update_artifact' && !modelArtifactId) {
      throw new ConfigError(`update_artifact needs ${inputs.modelArtifactIdSetting} (or the ConfigMap key ModelArtifact.id${where})`);
    }
  }

  const fields: ModelArtifactFields = {
    description: ma.description,
    modelFormatName: ma.modelFormatName,
    modelFormatVersion: ma.modelFormatVersion,
    storageKey: ma.storageKey,
    storagePath: ma.storagePath,
    serviceAccountName: ma.serviceAccountName,
    modelSourceKind: ma.modelSourceKind,
    modelSourceClass: ma.modelSourceClass,
    modelSourceGroup: ma.modelSourceGroup,
    modelSourceId: ma.modelSourceId,
    modelSourceName: ma.modelSourceName,
    customProperties: encodeCustomProperties(ma.customProperties),
  };
  const identity: JobIdentity | undefined =
    ma.modelSourceKind && ma.modelSourceName
      ? { modelSourceKind: ma.modelSourceKind, modelSourceClass: ma.modelSourceClass, modelSourceGroup: ma.modelSourceGroup, modelSourceName: ma.modelSourceName }
      : undefined;
  const author = given(mv.author) ?? inputs.author;
  return {
    intent,
    metadata,
    ...(modelId ? { modelId } : {}),
    ...(modelVersionId ? { modelVersionId } : {}),
    ...(modelArtifactId ? { modelArtifactId } : {}),
    model: { name: modelName, description: rm.description, owner: rm.owner, customProperties: encodeCustomProperties(rm.customProperties) },
    // update_artifact ignores the ModelVersion group (the UI writes an empty name for it)
    version: { name: versionName ?? DEFAULT_VERSION_NAME, description: mv.description, author, customProperties: encodeCustomProperties(mv.customProperties) },
    // upstream names the artifact after the registered model when the ConfigMap does not (or leaves it empty)
    artifact: { name: given(ma.name) ?? modelName, fields },
    updateArtifactMetadata: inputs.updateArtifactMetadata ?? false,
    ...(identity ? { identity } : {}),
  };
}
