// URLs as they may be shown, and URLs that carry their own credentials (user:password@, tokens in
// the query): the secrets are registered for redaction and the user info becomes a header.
import { addCredentialPair, addSecret } from '../util/redact.js';

// The display rule is pure and lives in util/ so that redaction (below net) uses the same one.
export { displayUrl } from '../util/display-url.js';

/**
 * Registers the secrets a URL carries (user:password, query values that look like tokens) and
 * returns the URL without user info plus the Authorization header made from it.
 */
export function splitUrlCredentials(url: URL): { url: URL; headers: Record<string, string> } {
  const clean = new URL(url.toString());
  const headers: Record<string, string> = {};
  if (clean.username || clean.password) {
    const user = decodeURIComponent(clean.username);
    const password = decodeURIComponent(clean.password);
    addCredentialPair(user, password); // the password alone too
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    addSecret(headers.authorization);
    clean.username = '';
    clean.password = '';
  }
  if (clean.search) {
    addSecret(clean.search.slice(1));
    for (const value of clean.searchParams.values()) if (value.length >= 8) addSecret(value);
  }
  return { url: clean, headers };
}
