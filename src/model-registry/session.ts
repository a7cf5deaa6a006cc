// Everything a registry step needs, built from its context: the plan, the client, what this
// workspace recorded earlier (for the same registry, intent and names), and the termination message.
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import type { Workspace } from '../workspace/workspace.js';
import { ModelRegistryClient } from './client.js';
import type { RegistryConnection } from './connection.js';
import { planFromInputs, type Intent, type PlanInputs, type RegistrationPlan } from './plan.js';
import { readRegistryRecord, RecordWriter, type RecordingStep, type RegistryRecord } from './record.js';
import type { RegistrationIds } from './registrar.js';

export interface RegistrySession {
  plan: RegistrationPlan;
  client: ModelRegistryClient;
  known: Partial<RegistryRecord>;
  target: string;
  writer(step: RecordingStep): RecordWriter;
}

/** What a registry step hands over: the workspace, its log, and the settings config/ resolved. */
export interface RegistrySessionContext {
  workspace: Workspace;
  log: Logger;
  connection: RegistryConnection;
  /** Level of the client's own log lines. */
  logLevel: string;
  network: NetworkSettings;
  plan: PlanInputs;
}

export async function openRegistrySession(ctx: RegistrySessionContext, opts: { lenient?: boolean } = {}): Promise<RegistrySession> {
  const plan = await planFromInputs(ctx.plan, {
    ...opts,
    onLenientError: (err) => ctx.log.warn(`metadata problem ignored while marking the job failed: ${err.message}`),
    warn: (message) => ctx.log.warn(message),
  });
  const registryLog = ctx.log.child({ component: 'model-registry' }, { level: ctx.logLevel });
  const connection = ctx.connection;
  const client = new ModelRegistryClient(connection, { log: registryLog, network: ctx.network });
  const target = [connection.baseUrl, plan.intent, plan.model.name ?? plan.modelId ?? '', plan.version.name, plan.modelArtifactId ?? ''].join('|');
  const known = await readRegistryRecord(ctx.workspace, plan.intent, target);
  return {
    plan,
    client,
    known,
    target,
    writer: (step) =>
      new RecordWriter(ctx.workspace, step, {
        ...known,
        intent: plan.intent,
        target,
        phase: step === 'preflight' ? 'preflight-done' : 'registering',
      }),
  };
}

/** The termination message as upstream writes it: json.dumps(indent=2), keys in this order, known ids only. */
export function terminationMessage(intent: Intent, ids: RegistrationIds): string {
  const message: Record<string, unknown> = { intent };
  if (ids.registeredModelId) message.RegisteredModel = { id: ids.registeredModelId };
  if (ids.modelVersionId) message.ModelVersion = { id: ids.modelVersionId };
  if (ids.modelArtifactId) message.ModelArtifact = { id: ids.modelArtifactId };
  return JSON.stringify(message, null, 2);
}

export function idResults(ids: RegistrationIds): Record<string, string> {
  return {
    'registered-model-id': ids.registeredModelId ?? '',
    'model-version-id': ids.modelVersionId ?? '',
    'model-artifact-id': ids.modelArtifactId ?? '',
  };
}
