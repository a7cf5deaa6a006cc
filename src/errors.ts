// Error kinds and their exit codes. Each kind has its own code so that Job podFailurePolicy and
// Argo/Tekton retry rules can tell "retrying cannot help" (bad input) from transient faults.
// 64 is avoided: Argo's emissary uses it for its own failures.

export const EXIT = {
  ok: 0,
  internal: 1,
  config: 2, // invalid flag, env var, credential file or metadata
  precondition: 3, // registry state forbids the intent (model exists, artifact missing, ...)
  auth: 4, // credentials rejected
  notFound: 5, // source object, image, repository or file missing
  unsafe: 6, // archive entry or object key escaping the workspace
  integrity: 7, // digest or size mismatch after transfer
  noSpace: 8, // the volume written to is full (ENOSPC) or over its quota (EDQUOT)
  transient: 10, // network fault or 5xx that outlived the retries
} as const;

export type ErrorKind = keyof typeof EXIT;

/** Exit codes for which a retry of the same Job cannot succeed. */
export const NON_RETRYABLE_EXIT_CODES = [EXIT.config, EXIT.precondition, EXIT.auth, EXIT.notFound, EXIT.unsafe, EXIT.noSpace];

export class ModelSyncError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelSyncError';
    this.kind = kind;
  }
  get exitCode(): number {
    return EXIT[this.kind];
  }
}

/** A configuration error always names the flag and the env var. */
export class ConfigError extends ModelSyncError {
  constructor(message: string) {
    super('config', message);
    this.name = 'ConfigError';
  }
}

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** Whether `err` (or an error it wraps, through `cause`) says the disk is full or over quota. */
export function isNoSpace(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    if (e instanceof ModelSyncError && e.kind === 'noSpace') return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof ModelSyncError ? err.exitCode : EXIT.internal;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
