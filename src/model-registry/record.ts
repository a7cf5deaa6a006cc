// The registry part of the workspace state (typed in workspace/records.ts): preflight writes
// .model-sync/preflight.json, register .model-sync/register.json, after every change.
import { readRecord, writeRecord, type RegistryRecord, type UploadIntent } from '../workspace/records.js';
import type { Workspace } from '../workspace/workspace.js';

export type { EntityRef, RegistryRecord } from '../workspace/records.js';

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
    await writeRecord(this.workspace, this.step, this.record);
  }
}

/** What preflight and register recorded, register's view winning, for the same intent only. */
export async function readRegistryRecord(workspace: Workspace, intent: UploadIntent, target: string): Promise<Partial<RegistryRecord>> {
  const pre = await readRecord(workspace, 'preflight');
  const reg = await readRecord(workspace, 'register');
  const merged: Partial<RegistryRecord> = {};
  for (const r of [pre, reg]) {
    if (!r || r.intent !== intent || r.target !== target) continue;
    for (const key of ['registeredModel', 'modelVersion', 'modelArtifact', 'uri', 'phase'] as const) {
      if (r[key] !== undefined) (merged as Record<string, unknown>)[key] = key === 'modelArtifact' ? { ...merged.modelArtifact, ...r.modelArtifact } : r[key];
    }
  }
  return merged;
}
