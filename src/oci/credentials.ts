// What it takes to reach one image: the reference, the setting that named it (for messages), the
// credentials for its registry, the TLS switch and the CAs it trusts. Made by config/, used by oci/ and sources/.
import type { TlsTrust } from '../net/tls-trust.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token to send as is (registrytoken) */
  registryToken?: string;
  /** An OAuth2 refresh token (identitytoken) */
  identityToken?: string;
}

export interface ImageEndpoint {
  /** `registry/repo[:tag][@digest]` or `oci:<dir>[:tag]` */
  reference: string;
  /** The flag and env var that set `reference`, for error messages. */
  setting: string;
  /** Looked up only when the reference names a registry (undefined: anonymous access). */
  credentials: () => RegistryCredentials | undefined;
  tlsVerify: boolean;
  /** The flag and env var of tlsVerify, for messages. */
  tlsSetting: string;
  /** CAs beyond the system roots: the side's certs.d folder per host, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS. */
  trust?: TlsTrust;
}

/** What a client of `image` needs to reach it: its credentials (looked up when asked), TLS switch and CAs, and their names for messages. */
export function endpointAccess(image: ImageEndpoint): Pick<ImageEndpoint, 'credentials' | 'tlsVerify' | 'tlsSetting' | 'trust'> {
  return { credentials: image.credentials, tlsVerify: image.tlsVerify, tlsSetting: image.tlsSetting, ...(image.trust ? { trust: image.trust } : {}) };
}
