// .dockerconfigjson lookup with the containers/image rules that the upstream job relies on:
// an explicit key first, then the longest repository-path prefix (quay.io/org/repo, quay.io/org,
// quay.io), then keys normalised to a host (https:// stripped, cut at the first /).
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { RegistryCredentials } from '../oci/credentials.js';
import { addCredentialPair, addSecret } from '../util/redact.js';

export type { RegistryCredentials } from '../oci/credentials.js';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  registrytoken?: string;
  identitytoken?: string;
}

const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];

export class DockerConfig {
  private constructor(
    readonly file: string,
    private readonly auths: Record<string, AuthEntry>,
  ) {}

  /** Reads a .dockerconfigjson (or config.json) file; `describe` names the flag and env var for errors. */
  static load(file: string, describe: string): DockerConfig {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${describe}: cannot read docker config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(`${describe}: ${file} is not valid JSON`);
    }
    const auths = (parsed as { auths?: unknown }).auths;
    if (!auths || typeof auths !== 'object') {
      throw new ConfigError(`${describe}: invalid docker config file ${file}: no "auths" object`);
    }
    for (const entry of Object.values(auths as Record<string, AuthEntry>)) {
      addSecret(entry.auth);
      addSecret(entry.password);
      addSecret(entry.registrytoken);
      addSecret(entry.identitytoken);
    }
    return new DockerConfig(file, auths as Record<string, AuthEntry>);
  }

  /**
   * Credentials for a reference such as `quay.io/org/repo:tag`, or for an explicit key.
   * Returns undefined when no entry matches or the entry is empty (anonymous).
   */
  lookup(reference: string, explicitKey?: string): RegistryCredentials | undefined {
    if (explicitKey) {
      const entry = this.auths[explicitKey] ?? this.auths[normaliseKey(explicitKey)];
      if (entry) return decodeEntry(entry);
    }
    const repoPath = repositoryPath(reference);
    const parts = repoPath.split('/');
    for (let n = parts.length; n >= 1; n--) {
      const key = parts.slice(0, n).join('/');
      const entry = this.auths[key];
      if (entry) return decodeEntry(entry);
    }
    const host = parts[0] ?? '';
    for (const [key, entry] of Object.entries(this.auths)) {
      if (normaliseKey(key) === host) return decodeEntry(entry);
    }
    if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) {
      for (const key of DOCKER_HUB_KEYS) {
        const entry = this.auths[key];
        if (entry) return decodeEntry(entry);
      }
    }
    return undefined;
  }
}

/** `host[:port]/repo[:tag][@digest]` without tag and digest. */
export function repositoryPath(reference: string): string {
  const noDigest = reference.replace(/^oci:\/\//, '').split('@')[0] ?? '';
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function normaliseKey(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0] ?? key;
}

function decodeEntry(entry: AuthEntry): RegistryCredentials | undefined {
  if (entry.registrytoken) return { registryToken: entry.registrytoken };
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  let user = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    // base64 "user:pass"; the upstream job also accepts a plain "user:pass" (deprecated, #2273)
    const text = decoded.includes(':') && /^[A-Za-z0-9+/=]+$/.test(entry.auth) ? decoded : entry.auth;
    const colon = text.indexOf(':');
    if (colon > 0) {
      user = text.slice(0, colon);
      password = text.slice(colon + 1);
    }
  }
  if (!user && !password) return undefined;
  addCredentialPair(user, password);
  return { ...(user ? { username: user } : {}), ...(password ? { password } : {}) };
}
