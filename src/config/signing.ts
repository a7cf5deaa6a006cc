// Whether a run signs, decided as upstream's job decides it (jobs/async-upload/job/config.py):
// --sign / MODEL_SYNC_SIGN when given; unset, signing is on when all three SIGSTORE_*_URL variables
// (no MODEL_SYNC_ prefix) are set and non-empty, off with a warning when only some are. model-sync
// cannot sign yet, so a run that would sign fails before any transfer: never an unsigned image
// where upstream would have made a signed one.
import { ConfigError } from '../errors.js';

export const SIGSTORE_ENV = ['SIGSTORE_TUF_URL', 'SIGSTORE_FULCIO_URL', 'SIGSTORE_REKOR_URL'] as const;

export interface SigningSettings {
  /** Whether upstream's job would sign this run. */
  enabled: boolean;
  /** What decided it, for the message. */
  reason: string;
  /** How --sign / MODEL_SYNC_SIGN is named in messages. */
  setting: string;
  /** The SIGSTORE_* variables missing when only some are set (upstream then warns and does not sign). */
  missing: string[];
  /** Identity token for signing; accepted, unused until model-sync signs. */
  identityTokenPath?: string;
}

export interface SigningInput {
  /** --sign / MODEL_SYNC_SIGN, undefined when not given. */
  sign: boolean | undefined;
  signSetting: string;
  identityTokenPath: string | undefined;
  env: NodeJS.ProcessEnv;
}

export function resolveSigning({ sign, signSetting, identityTokenPath, env }: SigningInput): SigningSettings {
  const common = { setting: signSetting, ...(identityTokenPath ? { identityTokenPath } : {}) };
  if (sign !== undefined) return { enabled: sign, reason: `${signSetting} is ${sign}`, missing: [], ...common };
  // As upstream: a variable counts when it is set to anything but ''.
  const missing = SIGSTORE_ENV.filter((name) => !env[name]);
  if (missing.length === 0) {
    return { enabled: true, reason: `${SIGSTORE_ENV.join(', ')} are all set and ${signSetting} is not, so upstream's job would sign`, missing, ...common };
  }
  const partial = missing.length < SIGSTORE_ENV.length;
  return { enabled: false, reason: partial ? 'incomplete SIGSTORE configuration' : 'no SIGSTORE variable is set', missing: partial ? [...missing].sort() : [], ...common };
}

/** Upstream's warning, word for word, when only some SIGSTORE_* variables are set. */
export function incompleteSigningWarning(signing: SigningSettings): string | undefined {
  return signing.missing.length ? `Signing disabled, incomplete SIGSTORE configuration, missing: ${signing.missing.join(', ')}.` : undefined;
}

/** Until model-sync can sign: a ConfigError (exit 2) for a run that would sign. */
export function refuseSigning(signing: SigningSettings): void {
  if (!signing.enabled) return;
  throw new ConfigError(`signing is not supported by model-sync yet: ${signing.reason}; set ${signing.setting} to false to move the model unsigned`);
}
