// After a failed transfer (mark-failed, or `all` after an error): no artifact stays PENDING, and
// what this job half-created is set aside with a clear state. End states:
//   ModelArtifact in PENDING (update_artifact after preflight, or any artifact of this job)
//       -> ABANDONED ("abandoned ... due to a failed or cancelled execution" in the ArtifactState enum)
//   ModelVersion created by this job that has no LIVE artifact of this job -> ARCHIVED
//   RegisteredModel created by this job that has no LIVE artifact of this job -> ARCHIVED
// Everything touched gets the custom property model_sync_failure_reason when a reason is known.
// Entities are the recorded ones, plus this job's model, version and artifact found in the
// registry when a lost answer kept them out of the record.
// A re-run of the same job revives what it archived (ownership.ts recognises it).
import { redact } from '../util/redact.js';
import type { Logger } from '../log.js';
import type { ModelRegistryClient } from './client.js';
import { writableCustomProperties } from './custom-properties.js';
import { FAILURE_REASON_PROPERTY, OwnEntities } from './ownership.js';
import type { RegistrationPlan } from './plan.js';
import type { EntityRef, RegistryRecord } from './record.js';
import type { CustomProperties } from './types.js';

export interface SettledEntity {
  type: 'RegisteredModel' | 'ModelVersion' | 'ModelArtifact';
  id: string;
  created: boolean;
  /** State after settling ('' when the entity no longer exists). */
  state: string;
  changed: boolean;
}

export interface SettleReport {
  entities: SettledEntity[];
  /** One sentence naming the ids that exist. */
  summary: string;
}

const MAX_REASON = 1000;

export async function settleFailure(
  client: ModelRegistryClient,
  plan: RegistrationPlan,
  known: Partial<RegistryRecord>,
  reason: string | undefined,
  log: Logger,
): Promise<SettleReport> {
  const entities: SettledEntity[] = [];
  const reasonText = reason ? redact(reason).slice(0, MAX_REASON) : undefined;
  const withReason = (props: CustomProperties | undefined): CustomProperties | undefined =>
    reasonText ? { ...writableCustomProperties(props), [FAILURE_REASON_PROPERTY]: { metadataType: 'MetadataStringValue', string_value: reasonText } } : undefined;

  const own = new OwnEntities(client, plan, known, known.uri, log);
  const modelRef: EntityRef | undefined =
    known.registeredModel ?? (plan.modelId ? { id: plan.modelId, created: false } : plan.intent === 'create_model' ? await unrecordedModel(client, plan, own) : undefined);
  const versionRef: EntityRef | undefined =
    known.modelVersion ??
    (plan.modelVersionId ? { id: plan.modelVersionId, created: false } : modelRef && plan.intent !== 'update_artifact' ? await unrecordedVersion(client, plan, modelRef.id, own) : undefined);
  const artifactRef: EntityRef | undefined =
    known.modelArtifact ??
    (plan.intent === 'update_artifact' && plan.modelArtifactId ? { id: plan.modelArtifactId, created: false } : versionRef?.created ? await unrecordedArtifact(client, versionRef.id, own) : undefined);

  let registrationComplete = false;
  if (artifactRef) {
    const artifact = await client.getModelArtifact(artifactRef.id);
    if (!artifact) {
      entities.push({ type: 'ModelArtifact', id: artifactRef.id, created: artifactRef.created, state: '', changed: false });
    } else if (artifact.state === 'PENDING') {
      const updated = await client.updateModelArtifact(artifact.id, { state: 'ABANDONED', customProperties: withReason(artifact.customProperties) });
      log.warn({ modelArtifactId: artifact.id }, 'ModelArtifact was PENDING; set to ABANDONED');
      entities.push({ type: 'ModelArtifact', id: artifact.id, created: artifactRef.created, state: updated.state ?? 'ABANDONED', changed: true });
    } else {
      registrationComplete = artifact.state === 'LIVE' && artifactRef.created;
      entities.push({ type: 'ModelArtifact', id: artifact.id, created: artifactRef.created, state: artifact.state ?? 'UNKNOWN', changed: false });
    }
  }

  // A version or model this job created without a LIVE artifact of this job is half-made: archive it.
  if (versionRef) {
    const version = await client.getModelVersion(versionRef.id);
    if (!version) entities.unshift({ type: 'ModelVersion', id: versionRef.id, created: versionRef.created, state: '', changed: false });
    else if (versionRef.created && !registrationComplete && version.state !== 'ARCHIVED') {
      const updated = await client.updateModelVersion(version.id, { state: 'ARCHIVED', customProperties: withReason(version.customProperties) });
      log.warn({ modelVersionId: version.id }, 'ModelVersion created by this job has no artifact; set to ARCHIVED');
      entities.unshift({ type: 'ModelVersion', id: version.id, created: true, state: updated.state ?? 'ARCHIVED', changed: true });
    } else {
      entities.unshift({ type: 'ModelVersion', id: version.id, created: versionRef.created, state: version.state ?? 'LIVE', changed: false });
    }
  }
  if (modelRef) {
    const model = await client.getRegisteredModel(modelRef.id);
    if (!model) entities.unshift({ type: 'RegisteredModel', id: modelRef.id, created: modelRef.created, state: '', changed: false });
    else if (modelRef.created && !registrationComplete && model.state !== 'ARCHIVED') {
      const updated = await client.updateRegisteredModel(model.id, { state: 'ARCHIVED', customProperties: withReason(model.customProperties) });
      log.warn({ registeredModelId: model.id }, 'RegisteredModel created by this job has no artifact; set to ARCHIVED');
      entities.unshift({ type: 'RegisteredModel', id: model.id, created: true, state: updated.state ?? 'ARCHIVED', changed: true });
    } else {
      entities.unshift({ type: 'RegisteredModel', id: model.id, created: modelRef.created, state: model.state ?? 'LIVE', changed: false });
    }
  }
  return { entities, summary: describeEntities(entities, plan) };
}

// When the answer to a create was lost after the server committed it, the entity exists but was
// never recorded: look it up by the plan's name and count it as created here only when
// ownership.ts says it is this job's (another job's entity of the same name is left alone).
async function unrecordedModel(client: ModelRegistryClient, plan: RegistrationPlan, own: OwnEntities): Promise<EntityRef | undefined> {
  const model = plan.model.name ? await client.findRegisteredModel(plan.model.name) : undefined;
  return model && (await own.model(model)).ours ? { id: model.id, created: true } : undefined;
}

async function unrecordedVersion(client: ModelRegistryClient, plan: RegistrationPlan, modelId: string, own: OwnEntities): Promise<EntityRef | undefined> {
  const version = await client.findModelVersion(plan.version.name, modelId);
  return version && (await own.version(version)).ours ? { id: version.id, created: true } : undefined;
}

/** This job's artifact in a version it created: "no LIVE artifact of this job" is judged on it, not on the record alone. */
async function unrecordedArtifact(client: ModelRegistryClient, versionId: string, own: OwnEntities): Promise<EntityRef | undefined> {
  const artifact = (await client.listModelVersionArtifacts(versionId)).find((a) => own.artifact(a).ours);
  return artifact ? { id: artifact.id, created: true } : undefined;
}

export function describeEntities(entities: SettledEntity[], plan: Pick<RegistrationPlan, 'intent'>): string {
  const existing = entities.filter((e) => e.state !== '');
  if (existing.length === 0) {
    return plan.intent === 'update_artifact' ? 'no Model Registry entity was changed' : 'no Model Registry entity was created';
  }
  const parts = existing.map((e) => {
    const how = e.created ? 'created by this job' : 'existing';
    return `${e.type} ${e.id} (${how}, ${e.changed ? 'now ' : ''}${e.state})`;
  });
  return `Model Registry entities that exist: ${parts.join(', ')}`;
}
