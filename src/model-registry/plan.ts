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
  artifact: { name?: string; fields: ModelArtifactFields };
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
}

/**
 * `lenient` (mark-failed): a broken or incomplete ConfigMap must not stop the clean-up, so
 * metadata errors and missing names are tolerated; the ids recorded in the workspace still count.
 */
export async function planFromInputs(inputs: PlanInputs, opts: { lenient?: boolean; onLenientError?: (err: Error) => void } = {}): Promise<RegistrationPlan> {
  const intent = inputs.intent;
  const folderSetting = inputs.metadataSetting;
  let metadata: Metadata;
  try {
    metadata = await loadMetadata(inputs.metadataFolder, `${folderSetting}, default /etc/model-metadata`);
  } catch (err) {
    if (!opts.lenient || !(err instanceof ConfigError)) throw err;
    opts.onLenientError?.(err);
    metadata = { ...EMPTY_METADATA, keys: [] };
  }
  const where = metadata.folder ? ` in ${metadata.folder} (${folderSetting})` : ` (no metadata ConfigMap: set ${folderSetting})`;
  const { registeredModel: rm, modelVersion: mv, modelArtifact: ma } = metadata;

  const modelId = inputs.modelId ?? rm.id;
  const modelVersionId = inputs.modelVersionId ?? mv.id;
  const modelArtifactId = inputs.modelArtifactId ?? ma.id;

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
      if (rm.name && rm.id) throw new ConfigError(`create_model: set RegisteredModel.name or RegisteredModel.id, not both${where}`);
      if (!rm.name) throw new ConfigError(`create_model needs the metadata ConfigMap key RegisteredModel.name${where}`);
    }
    if (intent === 'create_version' && !modelId) {
      throw new ConfigError(`create_version needs ${inputs.modelIdSetting} (or the ConfigMap key RegisteredModel.id${where})`);
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
  const author = mv.author ?? inputs.author;
  return {
    intent,
    metadata,
    ...(modelId ? { modelId } : {}),
    ...(modelVersionId ? { modelVersionId } : {}),
    ...(modelArtifactId ? { modelArtifactId } : {}),
    model: { name: rm.name, description: rm.description, owner: rm.owner, customProperties: encodeCustomProperties(rm.customProperties) },
    version: { name: mv.name ?? DEFAULT_VERSION_NAME, description: mv.description, author, customProperties: encodeCustomProperties(mv.customProperties) },
    // upstream names the artifact after the model when the ConfigMap does not
    artifact: { name: ma.name ?? rm.name, fields },
    ...(identity ? { identity } : {}),
  };
}
