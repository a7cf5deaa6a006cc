// HTTP_PROXY, HTTPS_PROXY and NO_PROXY, read as Go's httpproxy.FromEnvironment reads them: the
// upper-case name first, then the lower-case one, and an empty value counts as unset (upstream's
// sample Job sets HTTPS_PROXY=""). The proxy's credentials are registered as secrets here, before
// anything can print them.
import { ConfigError } from '../errors.js';
import { splitNoProxy, type ProxySettings } from '../net/proxy-rules.js';
import { displayUrl } from '../util/display-url.js';
import { addCredentialPair, addSecret, redact } from '../util/redact.js';

/** The proxies the environment sets, or undefined when neither HTTP_PROXY nor HTTPS_PROXY is. */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const http = proxyUrl(env, 'HTTP_PROXY');
  const https = proxyUrl(env, 'HTTPS_PROXY');
  if (!http && !https) return undefined;
  return { ...(http ? { http } : {}), ...(https ? { https } : {}), noProxy: splitNoProxy(firstSet(env, 'NO_PROXY')?.value) };
}

/** The value of NAME, else of name; blank values are skipped (Go's getEnvAny). */
function firstSet(env: NodeJS.ProcessEnv, name: string): { name: string; value: string } | undefined {
  for (const n of [name, name.toLowerCase()]) {
    const value = env[n]?.trim();
    if (value) return { name: n, value };
  }
  return undefined;
}

function proxyUrl(env: NodeJS.ProcessEnv, name: string): URL | undefined {
  const set = firstSet(env, name);
  if (!set) return undefined;
  const url = parseProxy(set.value);
  if (url) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    addCredentialPair(user, password);
    addCredentialPair(url.username, url.password);
    if (!password) addSecret(user); // a token given as the user name alone
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    const shown = url ? displayUrl(url) : redact(set.value);
    const why = url && url.protocol !== 'http:' && url.protocol !== 'https:' ? `the ${url.protocol.slice(0, -1)} scheme is not supported (http or https)` : 'not a URL';
    throw new ConfigError(`${set.name}=${shown}: ${why}`);
  }
  return url;
}

/** A full URL, or host[:port] taken as http:// (as Go does); undefined when neither parses. */
function parseProxy(value: string): URL | undefined {
  const direct = tryUrl(value);
  if (value.includes('://')) return direct;
  // "proxy.corp:3128" parses as the scheme "proxy.corp:".
  return tryUrl(`http://${value}`) ?? direct;
}

function tryUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
