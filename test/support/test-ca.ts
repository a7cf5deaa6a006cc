// A throw-away certificate authority for TLS tests, made with openssl: one CA per test file, and
// server certificates it signs for test names and 127.0.0.x addresses.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface ServerCert {
  key: string;
  cert: string;
  keyPath: string;
  certPath: string;
}

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM) and its file. */
  pem: string;
  certPath: string;
  /** A server certificate for these DNS names and IP addresses, signed by the CA. */
  issue(names: string[]): ServerCert;
  remove(): void;
}

export function createTestCa(label = 'model-sync test CA'): TestCa {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-test-ca-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${label}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let serial = 0;
  return {
    dir,
    pem: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    certPath: path.join(dir, 'ca.crt'),
    issue(names) {
      const n = ++serial;
      const alt = names.map((name) => (/^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
      writeFileSync(path.join(dir, `srv${n}.ext`), `subjectAltName=${alt}\nextendedKeyUsage=serverAuth\n`);
      run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `srv${n}.key`, '-out', `srv${n}.csr`, '-subj', `/CN=${names[0]}`]);
      run(['x509', '-req', '-in', `srv${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-out', `srv${n}.crt`, '-days', '2', '-extfile', `srv${n}.ext`]);
      const keyPath = path.join(dir, `srv${n}.key`);
      const certPath = path.join(dir, `srv${n}.crt`);
      return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), keyPath, certPath };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
