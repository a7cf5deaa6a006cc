// The registry part of the workspace state: which entities exist and which this job created,
// written as soon as each exists so that a crash leaves a true account for the re-run and for
// mark-failed. preflight writes .model-sync/preflight.json, register .model-sync/register.json.
import type { Workspace } from '../workspace/workspace.js';
import type { Intent } from './plan.js';

export interface EntityRef {
  id: string;
  /** True when this job created it (only those are archived or abandoned by mark-failed). */
  created: boolean;
}

export interface RegistryRecord {
  intent: Intent;
  /** Registry URL and the names/ids of the plan: a record of another job is ignored. */
  target: string;
  registeredModel?: EntityRef;
  modelVersion?: EntityRef;
  modelArtifact?: EntityRef & { previousState?: string; pendingSetByPreflight?: boolean };
  uri?: string;
  /** register: 'registering' until the artifact is LIVE, then 'registered'. */
  phase: 'preflight-done' | 'registering' | 'registered';
}

export type RecordingStep = 'preflight' | 'register';

/** Writes a record after every change; the step record of `step`. */
export class RecordWriter {
  constructor(
    private readonly workspace: Workspace,
    private readonly step: RecordingStep,
    readonly record: RegistryRecord,
  ) {}

  async update(change: Partial<RegistryRecord>): Promise<void> {
    Object.assign(this.record, change);
    await this.workspace.writeStepRecord(this.step, this.record);
  }
}

/** What preflight and register recorded, register's view winning, for the same intent only. */
export async function readRegistryRecord(workspace: Workspace, intent: Intent, target: string): Promise<Partial<RegistryRecord>> {
  const pre = await workspace.readStepRecord<RegistryRecord>('preflight');
  const reg = await workspace.readStepRecord<RegistryRecord>('register');
  const merged: Partial<RegistryRecord> = {};
  for (const r of [pre, reg]) {
    if (!r || r.intent !== intent || r.target !== target) continue;
    for (const key of ['registeredModel', 'modelVersion', 'modelArtifact', 'uri', 'phase'] as const) {
      if (r[key] !== undefined) (merged as Record<string, unknown>)[key] = key === 'modelArtifact' ? { ...merged.modelArtifact, ...r.modelArtifact } : r[key];
    }
  }
  return merged;
}
