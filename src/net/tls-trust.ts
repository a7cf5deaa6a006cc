// What one endpoint trusts beyond Node's built-in roots, as config/ read it: its own CA bundle
// (a setting), CAs per host (a containers-style certs.d folder), and the environment's bundles
// (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS). Also how a user adds a CA for a host, for the message a
// certificate failure gives. The files are read in config/; net/ only combines PEM text.
import { rootCertificates } from 'node:tls';

/** CAs and a client certificate for one host (a certs.d folder). */
export interface HostTrust {
  /** PEM CA certificates (*.crt). */
  ca: string[];
  /** Client certificate chains (*.cert) and their keys (*.key), in pairs. */
  cert?: string[];
  key?: string[];
}

export interface TlsTrust {
  /** The endpoint's own CA bundle (PEM), for every host it reaches. */
  ca?: string[];
  /** Per host[:port] extras (certs.d), asked for each host a request goes to. */
  forHost?: (host: string) => HostTrust | undefined;
  /**
   * The environment's bundles: Node reads NODE_EXTRA_CA_CERTS only into its default store, and
   * SSL_CERT_FILE not at all. Read when a TLS agent is first made (a step that connects to nothing
   * over TLS neither pays for parsing them nor fails on them).
   */
  environment?: () => EnvironmentCa;
  /** How to add a CA for `host`: "--x-ca-bundle / MODEL_SYNC_X_CA_BUNDLE (or AWS_CA_BUNDLE)". */
  addCa?: (host: string) => string;
  /** The flag and env var that turn verification off, where one exists. */
  tlsSetting?: string;
}

export interface EnvironmentCa {
  sslCertFile?: string[];
  nodeExtraCaCerts?: string[];
}

/** TLS options of the agent for one host. */
export interface HostTlsOptions {
  ca?: string[];
  cert?: string[];
  key?: string[];
}

/**
 * The `ca` (and client certificate) for one host. A `ca` option replaces Node's store, so when
 * any is needed it holds the built-in roots and NODE_EXTRA_CA_CERTS too; SSL_CERT_FILE is always
 * added, since Node 20 ignores it. Nothing to add leaves Node's default store (which already has
 * NODE_EXTRA_CA_CERTS).
 */
export function tlsOptionsFor(trust: TlsTrust | undefined, host: string | undefined): HostTlsOptions {
  const own = host !== undefined ? trust?.forHost?.(host) : undefined;
  const environment = trust?.environment?.();
  const custom = [...(environment?.sslCertFile ?? []), ...(trust?.ca ?? []), ...(own?.ca ?? [])];
  const client = own?.cert?.length ? { cert: own.cert, key: own.key ?? [] } : {};
  if (custom.length === 0) return client;
  return { ca: [...new Set([...rootCertificates, ...(environment?.nodeExtraCaCerts ?? []), ...custom])], ...client };
}
