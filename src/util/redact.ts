// Keeps secrets out of every log line, error message and termination message: known secret values
// are replaced wherever they appear, and credential-shaped text (Authorization headers, user:pass@
// in URLs, signed-URL parameters) is masked by pattern.

const MASK = '[REDACTED]';
const secrets = new Set<string>();

/** Registers a value that must never be printed (and its base64 forms, as sent in Basic auth). */
export function addSecret(value: string | undefined): void {
  if (!value || value.length < 4) return; // masking "1" or "abc" everywhere would garble logs
  secrets.add(value);
  secrets.add(Buffer.from(value).toString('base64'));
}

/** Registers a user:password pair, including the base64 form used in Basic auth and .dockerconfigjson. */
export function addCredentialPair(user: string | undefined, password: string | undefined): void {
  if (!password) return;
  addSecret(password);
  if (user) addSecret(`${user}:${password}`);
}

const PATTERNS: Array<[RegExp, string]> = [
  [/(authorization["']?\s*[:=]\s*["']?)(basic|bearer)\s+[^\s"',}]+/gi, `$1$2 ${MASK}`],
  [/\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{16,}/gi, `$1 ${MASK}`],
  [/([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${MASK}@`],
  [/([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|sig|token|access_token)=)[^&\s"']+/gi, `$1${MASK}`],
  [/("(?:password|secret|token|access_token|refresh_token|auth|identitytoken|secretAccessKey|sessionToken)"\s*:\s*")[^"]*"/gi, `$1${MASK}"`],
];

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join(MASK);
  }
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
  return out;
}

/** The one URL display rule lives in display-url.ts; re-exported for callers of redaction. */
export { displayUrl } from './display-url.js';

/** For tests: forget registered secrets. */
export function clearSecrets(): void {
  secrets.clear();
}
