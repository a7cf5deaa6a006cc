// The three upload intents against Model Registry: preflight (preconditions before any byte
// moves), register (after the push) and settle (after a failure). Every entity id is recorded in
// the workspace as soon as it exists.
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { isRegistryStatus, type ModelRegistryClient } from './client.js';
import { writableCustomProperties } from './custom-properties.js';
import { FAILURE_REASON_PROPERTY, OwnEntities } from './ownership.js';
import type { RegistrationPlan } from './plan.js';
import type { RecordWriter, RegistryRecord } from './record.js';
import { MODEL_ARTIFACT_UPDATE_FIELDS, type CustomProperties, type ModelArtifact, type ModelArtifactUpdate, type ModelVersion, type RegisteredModel } from './types.js';

export interface RegistrationIds {
  registeredModelId?: string;
  modelVersionId?: string;
  modelArtifactId?: string;
}

/** Upstream's words (runbooks and upstream's tests match on them). */
const CREATE_VERSION_HINT = "Use 'create_version' intent to add a new version to this existing model.";

function precondition(message: string): ModelSyncError {
  return new ModelSyncError('precondition', message);
}

export class Registrar {
  constructor(
    private readonly client: ModelRegistryClient,
    private readonly plan: RegistrationPlan,
    private readonly writer: RecordWriter,
    /** What an earlier run in this workspace recorded (same registry, intent and names). */
    private readonly known: Partial<RegistryRecord>,
    private readonly log: Logger,
  ) {}

  private own(uri?: string): OwnEntities {
    return new OwnEntities(this.client, this.plan, this.known, uri, this.log);
  }

  // --- preflight ------------------------------------------------------------------------------

  /** Checks the intent's preconditions; update_artifact: sets the artifact PENDING. */
  async preflight(): Promise<RegistrationIds> {
    const p = this.plan;
    if (p.intent === 'update_artifact') {
      const id = p.modelArtifactId!;
      const artifact = await this.requireArtifact(id);
      await this.client.updateModelArtifact(id, { state: 'PENDING' }); // other fields are kept when omitted
      const previousState = this.known.modelArtifact?.pendingSetByPreflight ? this.known.modelArtifact.previousState : artifact.state;
      await this.writer.update({
        ...this.passThrough(),
        modelArtifact: { id, created: false, pendingSetByPreflight: true, ...(previousState ? { previousState } : {}) },
      });
      this.log.info({ modelArtifactId: id, previousState: artifact.state }, 'ModelArtifact exists; set to PENDING');
      return this.ids();
    }
    if (p.intent === 'create_model') {
      const name = p.model.name!;
      const existing = await this.client.findRegisteredModel(name);
      if (existing) {
        const verdict = await this.own().model(existing);
        if (!verdict.ours) {
          throw precondition(
            `Cannot create model: RegisteredModel with name '${name}' already exists (ID: ${existing.id}) and ${verdict.why}. ` +
              CREATE_VERSION_HINT,
          );
        }
        this.log.info({ registeredModelId: existing.id, why: verdict.why }, 'RegisteredModel exists from an earlier attempt of this job; continuing');
        await this.writer.update({ registeredModel: { id: existing.id, created: true } });
        const version = await this.client.findModelVersion(p.version.name, existing.id);
        if (version) await this.writer.update({ modelVersion: { id: version.id, created: true } });
      }
      return this.ids();
    }
    const model = await this.requireModel(p.modelId!);
    await this.writer.update({ registeredModel: { id: model.id, created: false } });
    const version = await this.client.findModelVersion(p.version.name, model.id);
    if (version) {
      const verdict = await this.own().version(version);
      if (!verdict.ours) throw this.versionExists(version, model, verdict.why);
      this.log.info({ modelVersionId: version.id, why: verdict.why }, 'ModelVersion exists from an earlier attempt of this job; continuing');
      await this.writer.update({ modelVersion: { id: version.id, created: true } });
    }
    return this.ids();
  }

  // --- register -------------------------------------------------------------------------------

  async register(uri: string): Promise<RegistrationIds> {
    const p = this.plan;
    await this.writer.update({ uri, phase: 'registering' });
    if (p.intent === 'update_artifact') {
      const id = p.modelArtifactId!;
      const artifact = await this.requireArtifact(id);
      await this.client.updateModelArtifact(id, this.artifactUpdate(artifact, uri));
      await this.writer.update({ ...this.passThrough(), modelArtifact: { ...this.writer.record.modelArtifact, id, created: false }, phase: 'registered' });
      return this.ids();
    }
    let model: RegisteredModel;
    if (p.intent === 'create_model') {
      model = await this.ensureModel(uri);
    } else {
      model = await this.requireModel(p.modelId!);
      await this.writer.update({ registeredModel: { id: model.id, created: false } });
    }
    const version = await this.ensureVersion(model, uri);
    await this.ensureArtifact(model, version, uri);
    await this.writer.update({ phase: 'registered' });
    return this.ids();
  }

  private async ensureModel(uri: string): Promise<RegisteredModel> {
    const p = this.plan;
    const name = p.model.name!;
    let model = await this.client.findRegisteredModel(name);
    if (!model) {
      try {
        model = await this.client.createRegisteredModel({
          name,
          description: p.model.description,
          owner: p.model.owner,
          customProperties: p.model.customProperties,
          state: 'LIVE',
        });
        await this.writer.update({ registeredModel: { id: model.id, created: true } });
        this.log.info({ registeredModelId: model.id, name }, 'RegisteredModel created');
        return model;
      } catch (err) {
        // a retried POST whose first attempt went through, or a concurrent creator: decide below
        if (!isRegistryStatus(err, 409)) throw err;
        model = await this.client.findRegisteredModel(name);
        if (!model) throw err;
      }
    }
    const verdict = await this.own(uri).model(model);
    if (!verdict.ours) {
      throw precondition(
        `Cannot create model: RegisteredModel with name '${name}' already exists (ID: ${model.id}) and ${verdict.why}. ` +
          CREATE_VERSION_HINT,
      );
    }
    this.log.info({ registeredModelId: model.id, why: verdict.why }, 'RegisteredModel exists from an earlier attempt of this job; continuing');
    await this.writer.update({ registeredModel: { id: model.id, created: true } });
    if (model.state === 'ARCHIVED' || model.customProperties?.[FAILURE_REASON_PROPERTY]) {
      model = await this.client.updateRegisteredModel(model.id, { state: 'LIVE', customProperties: withoutFailure(model.customProperties) });
    }
    return model;
  }

  private async ensureVersion(model: RegisteredModel, uri: string): Promise<ModelVersion> {
    const p = this.plan;
    let version = await this.client.findModelVersion(p.version.name, model.id);
    if (!version) {
      try {
        version = await this.client.createModelVersion({
          name: p.version.name,
          registeredModelId: model.id,
          description: p.version.description,
          author: p.version.author,
          customProperties: p.version.customProperties,
          state: 'LIVE',
        });
        await this.writer.update({ modelVersion: { id: version.id, created: true } });
        this.log.info({ modelVersionId: version.id, name: p.version.name }, 'ModelVersion created');
        return version;
      } catch (err) {
        if (!isRegistryStatus(err, 409)) throw err;
        version = await this.client.findModelVersion(p.version.name, model.id);
        if (!version) throw err;
      }
    }
    const verdict = await this.own(uri).version(version);
    if (!verdict.ours) throw this.versionExists(version, model, verdict.why);
    this.log.info({ modelVersionId: version.id, why: verdict.why }, 'ModelVersion exists from an earlier attempt of this job; continuing');
    await this.writer.update({ modelVersion: { id: version.id, created: true } });
    if (version.state === 'ARCHIVED' || version.customProperties?.[FAILURE_REASON_PROPERTY]) {
      version = await this.client.updateModelVersion(version.id, { state: 'LIVE', customProperties: withoutFailure(version.customProperties) });
    }
    return version;
  }

  private async ensureArtifact(model: RegisteredModel, version: ModelVersion, uri: string): Promise<ModelArtifact> {
    const p = this.plan;
    const own = this.own(uri);
    // as upstream: the ConfigMap's name, else the registered model's
    const name = p.artifact.name ?? model.name;
    // The version is this job's, so an artifact with this job's name in it is this job's too.
    const find = async () => (await this.client.listModelVersionArtifacts(version.id)).find((a) => own.artifact(a).ours || a.name === name);
    let artifact = await find();
    if (!artifact) {
      try {
        artifact = await this.client.createModelVersionArtifact(version.id, {
          artifactType: 'model-artifact',
          name,
          ...p.artifact.fields,
          uri,
          state: 'LIVE',
        });
        await this.writer.update({ modelArtifact: { id: artifact.id, created: true } });
        this.log.info({ modelArtifactId: artifact.id }, 'ModelArtifact created');
        return artifact;
      } catch (err) {
        if (!isRegistryStatus(err, 409)) throw err;
        artifact = await find();
        if (!artifact) throw err;
      }
    }
    await this.writer.update({ modelArtifact: { id: artifact.id, created: true } });
    this.log.info({ modelArtifactId: artifact.id }, 'ModelArtifact exists from an earlier attempt of this job; updating it');
    const customProperties = p.artifact.fields.customProperties ?? (artifact.customProperties?.[FAILURE_REASON_PROPERTY] ? withoutFailure(artifact.customProperties) : undefined);
    return this.client.updateModelArtifact(artifact.id, { ...p.artifact.fields, customProperties, uri, state: 'LIVE' });
  }

  // --- helpers --------------------------------------------------------------------------------

  /**
   * update_artifact's PATCH at register. As upstream: the URI and state LIVE, nothing else, unless
   * --update-artifact-metadata asks for the ConfigMap's ModelArtifact fields too (custom properties
   * then merged into the existing ones: a PATCH with customProperties replaces the map). Either
   * way mark-failed's own failure reason from an earlier attempt is removed.
   */
  private artifactUpdate(artifact: ModelArtifact, uri: string): ModelArtifactUpdate {
    const fields = this.plan.artifact.fields;
    const stale = artifact.customProperties?.[FAILURE_REASON_PROPERTY] !== undefined;
    if (!this.plan.updateArtifactMetadata) {
      const unused = MODEL_ARTIFACT_UPDATE_FIELDS.filter((f) => fields[f] !== undefined);
      if (unused.length) {
        this.log.info({ fields: unused }, 'update_artifact: the ConfigMap\'s ModelArtifact fields are not applied (as upstream); set --update-artifact-metadata / MODEL_SYNC_UPDATE_ARTIFACT_METADATA to apply them');
      }
      return { uri, state: 'LIVE', ...(stale ? { customProperties: withoutFailure(artifact.customProperties) } : {}) };
    }
    const body: ModelArtifactUpdate = { ...fields, uri, state: 'LIVE' };
    if (fields.customProperties) body.customProperties = { ...withoutFailure(artifact.customProperties), ...fields.customProperties };
    else if (stale) body.customProperties = withoutFailure(artifact.customProperties);
    return body;
  }

  private async requireArtifact(id: string): Promise<ModelArtifact> {
    const artifact = await this.client.getModelArtifact(id);
    if (!artifact) throw precondition(`Cannot update artifact: ModelArtifact with ID '${id}' not found in Model Registry`);
    return artifact;
  }

  private async requireModel(id: string): Promise<RegisteredModel> {
    const model = await this.client.getRegisteredModel(id);
    if (!model) throw precondition(`Cannot create version: RegisteredModel with ID '${id}' not found. Use 'create_model' intent to create a new model first.`);
    return model;
  }

  private versionExists(version: ModelVersion, model: RegisteredModel, why: string): ModelSyncError {
    return precondition(
      `Cannot create version: ModelVersion with name '${version.name}' already exists under RegisteredModel '${model.name}' (ID: ${model.id}) ` +
        `as ID ${version.id} and ${why}. Use 'update_artifact' intent to update an existing version's artifact, or choose another ModelVersion.name.`,
    );
  }

  /** update_artifact passes --model-id / --model-version-id through to the output. */
  private passThrough(): Partial<RegistryRecord> {
    return {
      ...(this.plan.modelId ? { registeredModel: { id: this.plan.modelId, created: false } } : {}),
      ...(this.plan.modelVersionId ? { modelVersion: { id: this.plan.modelVersionId, created: false } } : {}),
    };
  }

  ids(): RegistrationIds {
    return idsOf(this.writer.record);
  }
}

export function idsOf(record: Partial<RegistryRecord>): RegistrationIds {
  return {
    ...(record.registeredModel ? { registeredModelId: record.registeredModel.id } : {}),
    ...(record.modelVersion ? { modelVersionId: record.modelVersion.id } : {}),
    ...(record.modelArtifact ? { modelArtifactId: record.modelArtifact.id } : {}),
  };
}

/** The map without mark-failed's reason, writable again (struct values re-encoded). */
export function withoutFailure(props: CustomProperties | undefined): CustomProperties {
  const out = writableCustomProperties(props);
  delete out[FAILURE_REASON_PROPERTY];
  return out;
}
