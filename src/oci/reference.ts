// Image references `host[:port]/repo[:tag][@digest]` (Docker Hub aliases and `library/` for
// official images), and local image layouts `oci:<dir>[:tag]` written the way skopeo does.
import { ConfigError } from '../errors.js';

export interface ImageReference {
  /** Registry as users write it: `docker.io`, `quay.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Host and port to connect to (`registry-1.docker.io` for Docker Hub). */
  apiHost: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export type ImageLocation = { kind: 'registry'; ref: ImageReference } | { kind: 'layout'; dir: string; tag?: string };

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const DOCKER_HUB_API = 'registry-1.docker.io';

// Grammar from the distribution spec: lowercase path components separated by "/".
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$/;

function invalid(text: string, what: string | undefined, why: string): ConfigError {
  return new ConfigError(`${what ? `${what}: ` : ''}invalid image reference "${text}": ${why}`);
}

/** Parses `host[:port]/repo[:tag][@digest]`; an optional `oci://` or `docker://` prefix is accepted. */
export function parseImageReference(text: string, what?: string): ImageReference {
  const input = text.trim().replace(/^(?:oci|docker):\/\//, '');
  if (input === '') throw invalid(text, what, 'it is empty');
  if (/\s/.test(input)) throw invalid(text, what, 'it contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, what, `"${digest}" is not a sha256 digest (sha256:<64 hex digits>)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(text, what, `"${tag}" is not a valid tag`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    if (!HOST.test(first)) throw invalid(text, what, `"${first}" is not a valid registry host`);
    registry = first.toLowerCase();
    parts.shift();
  }
  if (DOCKER_HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB;
    if (parts.length === 1) parts.unshift('library'); // official images
  }
  if (parts.length === 0 || parts.some((p) => p === '')) throw invalid(text, what, 'the repository name is missing or has an empty component');
  for (const p of parts) {
    if (p !== p.toLowerCase()) throw invalid(text, what, 'repository names must be lowercase');
    if (!COMPONENT.test(p)) throw invalid(text, what, `"${p}" is not a valid repository name component`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw invalid(text, what, 'the repository name is longer than 255 characters');
  if (!tag && !digest) tag = 'latest';
  return {
    registry,
    apiHost: registry === DOCKER_HUB ? DOCKER_HUB_API : registry,
    repository,
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
  };
}

/** `registry/repo[:tag][@digest]` */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/**
 * An `oci://host/repo[:tag]` URI pinned to `digest` (`oci://host/repo@sha256:…`); undefined for
 * anything else (an image layout has no such URI).
 */
export function pinnedImageUri(uri: string, digest: string): string | undefined {
  if (!uri.startsWith('oci://') || !DIGEST.test(digest)) return undefined;
  const ref = parseImageReference(uri);
  return `oci://${formatReference({ ...ref, tag: undefined, digest })}`;
}

/** What goes in `/v2/<name>/manifests/<reference>`: the digest when pinned, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/**
 * `oci:<dir>[:tag]` is a local image layout (the path may not contain ":", as in skopeo);
 * anything else is a registry reference.
 */
export function parseImageLocation(text: string, what?: string): ImageLocation {
  const input = text.trim();
  if (input.startsWith('oci:') && !input.startsWith('oci://')) {
    const body = input.slice(4);
    const colon = body.indexOf(':');
    const dir = colon >= 0 ? body.slice(0, colon) : body;
    const tag = colon >= 0 ? body.slice(colon + 1) : undefined;
    if (dir === '') throw new ConfigError(`${what ? `${what}: ` : ''}invalid image layout reference "${text}": the directory is missing (oci:<dir>[:tag])`);
    if (tag !== undefined && !TAG.test(tag)) throw new ConfigError(`${what ? `${what}: ` : ''}invalid image layout reference "${text}": "${tag}" is not a valid tag`);
    return { kind: 'layout', dir, ...(tag ? { tag } : {}) };
  }
  return { kind: 'registry', ref: parseImageReference(input, what) };
}

/** Plain http only for loopback registries; every other registry is https. */
export function registryScheme(apiHost: string): 'http' | 'https' {
  const host = apiHost.startsWith('[') ? apiHost.slice(0, apiHost.indexOf(']') + 1) : (apiHost.split(':')[0] ?? '');
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' ? 'http' : 'https';
}
