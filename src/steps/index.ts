// Step name -> implementation, loaded on demand so that `fetch` does not load the OCI code.
import type { StepName } from '../contract/contract.js';
import type { StepRunner } from './types.js';

const loaders: Record<StepName, () => Promise<StepRunner>> = {
  fetch: async () => (await import('./fetch.js')).runFetch,
  package: async () => (await import('./package.js')).runPackage,
  push: async () => (await import('./push.js')).runPush,
  register: async () => (await import('./register.js')).runRegister,
  preflight: async () => (await import('./preflight.js')).runPreflight,
  'mark-failed': async () => (await import('./mark-failed.js')).runMarkFailed,
  all: async () => (await import('./all.js')).runAll,
  plan: async () => (await import('./plan.js')).runPlan,
  assemble: async () => (await import('./assemble.js')).runAssemble,
};

export function loadRunner(step: StepName): Promise<StepRunner> {
  return loaders[step]();
}
