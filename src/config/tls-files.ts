// The CA files model-sync reads: PEM bundles named by a setting (or AWS_CA_BUNDLE), the
// environment's SSL_CERT_FILE and NODE_EXTRA_CA_CERTS, and containers-style certs.d folders
// (<dir>/<host[:port]>/*.crt CAs, *.cert + *.key client pairs, as containers-certs.d(5) lays them
// out). A file that cannot be read, or holds no certificate, is a ConfigError naming where it was set.
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { EnvironmentCa, HostTrust } from '../net/tls-trust.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM file, each checked to parse; `where` names the setting in errors. */
export function readPemBundle(file: string, where: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: CA bundle ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const certs = text.match(PEM_CERTIFICATE) ?? [];
  if (certs.length === 0) throw new ConfigError(`${where}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  certs.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(`${where}: certificate ${i + 1} of ${file} does not parse`);
    }
  });
  return certs;
}

/**
 * SSL_CERT_FILE and NODE_EXTRA_CA_CERTS: Node 20 reads the first only with --use-openssl-ca, and
 * the second only into its default store, which a `ca` option replaces; net/ adds them back.
 */
export function environmentCa(env: NodeJS.ProcessEnv): EnvironmentCa {
  const read = (name: string) => (env[name] ? readPemBundle(env[name]!, `$${name}`) : undefined);
  const sslCertFile = read('SSL_CERT_FILE');
  const nodeExtraCaCerts = read('NODE_EXTRA_CA_CERTS');
  return { ...(sslCertFile ? { sslCertFile } : {}), ...(nodeExtraCaCerts ? { nodeExtraCaCerts } : {}) };
}

/**
 * A certs.d folder: per host[:port], the CAs and client pairs of <dir>/<host[:port]>/, read the first
 * time a request goes to that host (a folder for an unrelated host never fails a run). The folder
 * name is the host as URLs write it: with its port unless that is 443. CAs at the top of the folder
 * (<dir>/*.crt) are trusted for every host of it: a ConfigMap mounted as it is (its keys cannot
 * hold '/' or ':') then serves a private CA without an `items` list naming each host.
 */
export function certsDir(dir: string, where: string): (host: string) => HostTrust | undefined {
  let stat;
  try {
    stat = statSync(dir);
  } catch (err) {
    throw new ConfigError(`${where}: certificate folder ${dir} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!stat.isDirectory()) throw new ConfigError(`${where}: ${dir} is not a folder (expected <dir>/<host[:port]>/ca.crt)`);
  const cache = new Map<string, HostTrust | undefined>();
  let everyHost: string[] | undefined;
  return (host) => {
    if (!cache.has(host)) {
      everyHost ??= topLevelCas(dir, where);
      const own = readHostFolder(path.join(dir, host), where);
      const ca = [...everyHost, ...(own?.ca ?? [])];
      cache.set(host, own || ca.length ? { ...own, ca } : undefined);
    }
    return cache.get(host);
  };
}

function topLevelCas(dir: string, where: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw new ConfigError(`${where}: certificate folder ${dir} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // A mounted ConfigMap's keys are links into its ..data folder: follow them, skip folders.
  const names = entries.filter((n) => n.endsWith('.crt') && !n.startsWith('.') && isFile(path.join(dir, n)));
  return casIn(dir, names.sort(), where);
}

/** The CAs of a folder: every *.crt among `names`, in their order. */
function casIn(folder: string, names: readonly string[], where: string): string[] {
  return names.filter((n) => n.endsWith('.crt')).flatMap((n) => readPemBundle(path.join(folder, n), where));
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function readHostFolder(folder: string, where: string): HostTrust | undefined {
  let names: string[];
  try {
    names = readdirSync(folder).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${where}: ${folder} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const ca = casIn(folder, names, where);
  const cert: string[] = [];
  const key: string[] = [];
  // A client pair shares its base name (client.cert + client.key); either alone is an error, as in containers/image.
  for (const name of names.filter((n) => n.endsWith('.cert'))) {
    const keyName = `${name.slice(0, -'.cert'.length)}.key`;
    if (!names.includes(keyName)) throw new ConfigError(`${where}: ${path.join(folder, name)} has no key ${keyName} beside it`);
    cert.push(readPemBundle(path.join(folder, name), where).join('\n'));
    key.push(readKey(path.join(folder, keyName), where));
  }
  for (const name of names.filter((n) => n.endsWith('.key'))) {
    const certName = `${name.slice(0, -'.key'.length)}.cert`;
    if (!names.includes(certName)) throw new ConfigError(`${where}: ${path.join(folder, name)} has no client certificate ${certName} beside it`);
  }
  if (ca.length === 0 && cert.length === 0) return undefined;
  return { ca, ...(cert.length ? { cert, key } : {}) };
}

function readKey(file: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: client key ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new ConfigError(`${where}: ${file} holds no PEM private key`);
  return text;
}
