// How a URL may be shown in logs and messages. Pure, so that the lowest layer (redact, config
// dumps) and the HTTP layer (net/url.ts re-exports it) share one rule.

/**
 * Scheme, host, port and path; never user info; a query becomes `?[query hidden]` (signed URLs
 * and tokens live there) and the fragment is dropped. Text that is not an absolute URL is
 * returned as it is.
 */
export function displayUrl(url: URL | string): string {
  try {
    const u = new URL(url.toString());
    if (!u.protocol || !u.host) return url.toString();
    const query = u.search ? '?[query hidden]' : '';
    return `${u.protocol}//${u.host}${u.pathname}${query}`;
  } catch {
    return url.toString();
  }
}
