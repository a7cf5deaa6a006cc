// The process environment outside the parameter catalog: what the CLI needs before (or besides)
// the step's settings. Kept here so that config/ stays the only reader of the environment.
import { parameterCatalog } from '../contract/contract.js';

const LOG_FORMAT_ENV = 'MODEL_SYNC_LOG_FORMAT';
const LOG_LEVEL_ENV = 'MODEL_SYNC_LOG_LEVEL';
/**
 * The MODEL_SYNC_* variables read here, before the settings are resolved. Both are parameters of
 * the catalog too; the list keeps the unknown-variable check honest should that change.
 */
export const EARLY_ENV: readonly string[] = [LOG_FORMAT_ENV, LOG_LEVEL_ENV];

/**
 * Log level and format for the lines written before the settings are resolved. A level that is
 * not one falls back to info here; resolveConfig then reports it as the configuration error it is.
 */
export function earlyLogOptions(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): { level: string; format?: 'json' | 'pretty' } {
  const format = (flags.logFormat ?? env[LOG_FORMAT_ENV]) as string | undefined;
  const level = String(flags.logLevel ?? env[LOG_LEVEL_ENV] ?? 'info').trim();
  // The levels the contract allows (steps/parameters.yaml), not a second list.
  const known = parameterCatalog().get('log-level')?.enum ?? [];
  return {
    level: known.includes(level) ? level : 'info',
    ...(format === 'json' || format === 'pretty' ? { format } : {}),
  };
}

const DEFAULT_TERMINATION_PATH = '/dev/termination-log';

/** Where the Kubernetes termination message goes; none under /tekton/ (Tekton owns that file). */
export function terminationMessagePath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.TERMINATION_MESSAGE_PATH || DEFAULT_TERMINATION_PATH;
  return file.startsWith('/tekton/') ? undefined : file;
}

/**
 * The S3 SDK is pinned on purpose while on Node 20; its notice about future releases would be a
 * non-JSON line in the middle of the JSON log on stderr.
 */
export function quietSdkNotices(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
