// Recognising what an earlier attempt of this same job created, so that a re-run (a Job retry,
// backoffLimit 3 in the UI's Jobs) continues instead of failing on "already exists".
// An entity is this job's when:
//   - its id is in this workspace's record, or
//   - (artifact) its source fields kind/class/group/name equal the ConfigMap's (the UI writes
//     transfer_job/async-upload/<namespace>/<job name>), or its URI is the one being registered, or
//   - (version) it holds an artifact that is this job's, or (model) it holds such a version, or
//   - it has no children yet and carries exactly the description/owner/author and custom
//     properties this job writes (a crash right after creating it, before its child existed).
import type { Logger } from '../log.js';
import type { ModelRegistryClient } from './client.js';
import { decodeValue } from './custom-properties.js';
import type { RegistrationPlan } from './plan.js';
import type { RegistryRecord } from './record.js';
import type { CustomProperties, ModelArtifact, ModelVersion, RegisteredModel } from './types.js';

/** Custom property mark-failed writes; ignored when comparing and removed when reviving. */
export const FAILURE_REASON_PROPERTY = 'model_sync_failure_reason';

export interface Verdict {
  ours: boolean;
  why: string;
}

export class OwnEntities {
  constructor(
    private readonly client: ModelRegistryClient,
    private readonly plan: RegistrationPlan,
    private readonly known: Partial<RegistryRecord>,
    private readonly uri: string | undefined,
    private readonly log?: Logger,
  ) {}

  artifact(a: ModelArtifact): Verdict {
    if (this.known.modelArtifact?.id === a.id) return { ours: true, why: 'recorded in this workspace' };
    const id = this.plan.identity;
    if (
      id &&
      a.modelSourceKind === id.modelSourceKind &&
      a.modelSourceClass === id.modelSourceClass &&
      a.modelSourceGroup === id.modelSourceGroup &&
      a.modelSourceName === id.modelSourceName
    ) {
      return { ours: true, why: `its source is ${[id.modelSourceKind, id.modelSourceClass, id.modelSourceGroup, id.modelSourceName].filter(Boolean).join('/')}` };
    }
    if (this.uri && a.uri === this.uri) return { ours: true, why: `it already points to ${this.uri}` };
    return { ours: false, why: 'it carries neither this job\'s source fields nor its URI' };
  }

  async version(v: ModelVersion): Promise<Verdict> {
    if (this.known.modelVersion?.id === v.id) return { ours: true, why: 'recorded in this workspace' };
    const artifacts = await this.client.listModelVersionArtifacts(v.id);
    for (const a of artifacts) {
      const verdict = this.artifact(a);
      if (verdict.ours) return { ours: true, why: `its artifact ${a.id} is this job's (${verdict.why})` };
    }
    if (artifacts.length === 0 && sameText(v.author, this.plan.version.author) && sameText(v.description, this.plan.version.description) && sameProperties(v.customProperties, this.plan.version.customProperties)) {
      return { ours: true, why: 'it has no artifact yet and exactly the author, description and custom properties of this job' };
    }
    return { ours: false, why: artifacts.length ? 'none of its artifacts is this job\'s' : 'it has no artifact and different metadata' };
  }

  async model(m: RegisteredModel): Promise<Verdict> {
    if (this.known.registeredModel?.id === m.id) return { ours: true, why: 'recorded in this workspace' };
    const version = await this.client.findModelVersion(this.plan.version.name, m.id);
    if (version) {
      const verdict = await this.version(version);
      if (verdict.ours) return { ours: true, why: `its version ${version.id} is this job's (${verdict.why})` };
    }
    const anyVersion = await this.client.listRegisteredModelVersions(m.id, 1);
    if (anyVersion.length === 0 && sameText(m.owner, this.plan.model.owner) && sameText(m.description, this.plan.model.description) && sameProperties(m.customProperties, this.plan.model.customProperties)) {
      return { ours: true, why: 'it has no version yet and exactly the owner, description and custom properties of this job' };
    }
    this.log?.debug({ id: m.id }, 'RegisteredModel is not this job\'s');
    return { ours: false, why: 'it was not created by this job' };
  }
}

function sameText(a: string | undefined, b: string | undefined): boolean {
  return (a ?? '') === (b ?? '');
}

export function sameProperties(a: CustomProperties | undefined, b: CustomProperties | undefined): boolean {
  const norm = (p: CustomProperties | undefined) =>
    canonical(
      Object.fromEntries(
        Object.entries(p ?? {})
          .filter(([k]) => k !== FAILURE_REASON_PROPERTY)
          .map(([k, v]) => [k, decodeValue(v)]),
      ),
    );
  return norm(a) === norm(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
