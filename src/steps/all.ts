// Step all: preflight -> fetch -> package (OCI destination) -> push -> register in one process,
// sharing one workspace, with each step's results written as if it had run on its own. With
// --stream (the default) and a source and destination that allow it, fetch, package and push are
// one streaming transfer instead (stream-all.ts): the model never lands on the volume. After a
// failure past preflight, the mark-failed logic runs and the error says which registry ids exist.
// A stop (SIGTERM) past preflight settles the registry the same way, once the transfers are aborted
// and within the grace period: the artifact preflight set to PENDING must not stay PENDING.
import { loadStep, type StepName } from '../contract/contract.js';
import { messageOf, ModelSyncError } from '../errors.js';
import { asNoSpace } from '../workspace/disk.js';
import { runFetch } from './fetch.js';
import { markFailed } from './mark-failed.js';
import { runPackage } from './package.js';
import { runPreflight } from './preflight.js';
import { runPush } from './push.js';
import { runRegister } from './register.js';
import { runStreamed, streamingIntended, type StreamChoice, type StreamedRun } from './stream-all.js';
import type { StepContext, StepOutcome, StepRunner } from './types.js';

// Imported statically (not through index.ts, which loads this module): no import cycle.
const parts: Record<Exclude<StepName, 'all' | 'mark-failed' | 'plan' | 'assemble'>, StepRunner> = {
  preflight: runPreflight,
  fetch: runFetch,
  package: runPackage,
  push: runPush,
  register: runRegister,
};

async function runStep(name: keyof typeof parts, ctx: StepContext): Promise<StepOutcome> {
  const run = parts[name];
  const started = Date.now();
  const outcome = await run({ ...ctx, log: ctx.log.child({ part: name }) });
  await writeStepResults(ctx, name, outcome.results);
  ctx.log.info({ ...outcome.summary, seconds: (Date.now() - started) / 1000 }, `${name} finished`);
  return outcome;
}

export const runAll: StepRunner = async (ctx) => {
  const started = Date.now();
  // Decided once the settings have passed preflight's own checks (config errors come in its order).
  let choice: StreamChoice | undefined;
  const decide = () => (choice ??= streamingIntended(ctx.settings));
  await runStep('preflight', { ...ctx, streaming: () => decide().stream });
  const intended = decide();
  let moved: Pick<StreamedRun, 'results'>;
  let registered: StepOutcome;
  const unregister = ctx.stop.onStop({
    what: 'settling the Model Registry state',
    phase: 'settle',
    run: async (signal) => `Model Registry: ${(await markFailed(ctx, `stopped by ${signal}`)).summary}`,
  });
  try {
    const streamed = intended.stream ? await stream(ctx) : { staged: intended.reason };
    if ('staged' in streamed) {
      ctx.log.info({ reason: streamed.staged }, `staging the model in the workspace (fetch, package, push): ${streamed.staged}`);
      moved = await staged(ctx);
    } else moved = streamed;
    registered = await runStep('register', ctx);
  } catch (err) {
    if (ctx.stop.stopped) throw err; // the stop settles the registry (above)
    unregister();
    throw await afterFailure(ctx, err);
  }
  unregister();
  const results: Record<string, string> = {
    'model-files': moved.results['model-files'],
    'model-bytes': moved.results['model-bytes'],
    'image-digest': moved.results['image-digest'],
    'model-uri': registered.results['model-uri'] ?? '',
    'registered-model-id': registered.results['registered-model-id'] ?? '',
    'model-version-id': registered.results['model-version-id'] ?? '',
    'model-artifact-id': registered.results['model-artifact-id'] ?? '',
  };
  return {
    results,
    ...(registered.termination ? { termination: registered.termination } : {}),
    summary: {
      bytes: Number(results['model-bytes']),
      files: Number(results['model-files']),
      seconds: (Date.now() - started) / 1000,
      uri: results['model-uri'],
      registeredModelId: results['registered-model-id'] || undefined,
      modelVersionId: results['model-version-id'] || undefined,
      modelArtifactId: results['model-artifact-id'] || undefined,
    },
  };
};

/** The results step `name` declares, as it would write them on its own. */
async function writeStepResults(ctx: StepContext, name: keyof typeof parts, results: Readonly<Record<string, string>>): Promise<void> {
  for (const r of loadStep(name).results) await ctx.workspace.writeResult(r.name, results[r.name] ?? '');
}

/** fetch, package (OCI destination) and push, through the workspace. */
async function staged(ctx: StepContext): Promise<Pick<StreamedRun, 'results'>> {
  const fetched = await runStep('fetch', ctx);
  const packaged = ctx.settings.destinationType() === 'oci' ? await runStep('package', ctx) : undefined;
  const pushed = await runStep('push', ctx);
  return {
    results: {
      'model-files': fetched.results['model-files'] ?? '',
      'model-bytes': fetched.results['model-bytes'] ?? '',
      'image-digest': pushed.results['image-digest'] || packaged?.results['image-digest'] || '',
      'model-uri': pushed.results['model-uri'] ?? '',
    },
  };
}

/** The streaming transfer in place of fetch, package and push, their results written as theirs. */
async function stream(ctx: StepContext): Promise<StreamedRun | { staged: string }> {
  const started = Date.now();
  const r = await runStreamed({ ...ctx, log: ctx.log.child({ part: 'stream' }) });
  if ('staged' in r) return r;
  const steps: Array<keyof typeof parts> = ['fetch', ...(ctx.settings.destinationType() === 'oci' ? (['package'] as const) : []), 'push'];
  for (const name of steps) await writeStepResults(ctx, name, r.results);
  ctx.log.info({ ...r.summary, seconds: (Date.now() - started) / 1000 }, 'stream finished');
  return r;
}

/** Settles the registry and returns the error to throw: same kind, message extended with the ids. */
async function afterFailure(ctx: StepContext, failure: unknown): Promise<Error> {
  // A full disk is named before its message goes to the registry and into the one we throw.
  const err = await asNoSpace(failure, ctx.workspace.volume);
  const cause = messageOf(err);
  let account: string;
  try {
    account = (await markFailed(ctx, cause)).summary;
  } catch (settleErr) {
    ctx.log.error({ err: settleErr }, 'marking the job failed in Model Registry failed too');
    account = `marking the failure in Model Registry failed too: ${messageOf(settleErr)}`;
  }
  const kind = err instanceof ModelSyncError ? err.kind : 'internal';
  return new ModelSyncError(kind, `${cause}; ${account}`, { cause: err });
}
