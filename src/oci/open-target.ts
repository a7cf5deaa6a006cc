// The one place that turns an image location (`registry/repo[:tag][@digest]` or `oci:<dir>[:tag]`)
// into a target: a registry target with its client options, or a layout target.
import type { RegistryCredentials } from './credentials.js';
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import type { TlsTrust } from '../net/tls-trust.js';
import { OciLayout } from './layout.js';
import { parseImageLocation } from './reference.js';
import type { OciTarget } from './target.js';
import { LayoutTarget } from './target-layout.js';
import { RegistryTarget, type RegistryTargetOptions } from './target-registry.js';

export interface TargetOptions {
  /** For a registry only; a function is called only when the location is a registry. */
  credentials?: RegistryCredentials | (() => RegistryCredentials | undefined);
  tlsVerify: boolean;
  /** The flag and env var of tlsVerify, named when a registry answers plain HTTP. */
  tlsSetting?: string;
  /** CAs beyond the system roots, for a registry (ImageEndpoint.trust). */
  trust?: TlsTrust | undefined;
  log: Logger;
  /** Verb of error messages; `push` also asks the registry for push access. */
  operation: 'pull' | 'push' | 'fetch';
  /** Names the flag in a parse error (`--source-oci-uri / MODEL_SYNC_SOURCE_OCI_URI`). */
  what?: string;
  /** The step's timeouts and retry attempts, for a registry. */
  network?: NetworkSettings;
  /** Retry policy of the registry client (tests shorten it). */
  retry?: { attempts?: number; baseDelayMs?: number };
  maxSockets?: number;
  /** Blobs above chunkThreshold go up in PATCH chunks of chunkSize (registry-client defaults). */
  chunkThreshold?: number;
  chunkSize?: number;
  /** The run's stop, for a registry (registry-client.ts). */
  stop?: RegistryTargetOptions['stop'];
}

export function openTarget(location: string, opts: TargetOptions): OciTarget {
  const parsed = parseImageLocation(location, opts.what);
  if (parsed.kind === 'layout') return new LayoutTarget(new OciLayout(parsed.dir), { tag: parsed.tag, operation: opts.operation });
  const credentials = typeof opts.credentials === 'function' ? opts.credentials() : opts.credentials;
  return new RegistryTarget(parsed.ref, {
    credentials,
    tlsVerify: opts.tlsVerify,
    tlsSetting: opts.tlsSetting,
    trust: opts.trust,
    log: opts.log,
    operation: opts.operation,
    push: opts.operation === 'push',
    maxSockets: opts.maxSockets,
    network: opts.network,
    retry: opts.retry,
    chunkThreshold: opts.chunkThreshold,
    chunkSize: opts.chunkSize,
    stop: opts.stop,
  });
}
