// A certificate the client refused (unknown issuer, expired, another name) as a one-line config
// error: retrying cannot fix it, and the message names the host and the setting that adds its CA
// (the endpoint's trust says which), and the one that turns verification off where there is one.
import { ModelSyncError } from '../errors.js';
import type { TlsTrust } from './tls-trust.js';

/** OpenSSL's verify results for a chain that ends at no trusted CA. */
const UNKNOWN_ISSUER = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD']);
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);
const OTHER = new Set([
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
]);

/** The certificate error code of `err` (or of an error it wraps), if it is one. */
export function certificateErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (UNKNOWN_ISSUER.has(code) || OUT_OF_DATE.has(code) || WRONG_NAME.has(code) || OTHER.has(code))) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** `host` presented a certificate that failed verification: the config error that says what to set; undefined for other faults. */
export function certificateFailure(err: unknown, host: string, trust: TlsTrust | undefined): ModelSyncError | undefined {
  if (err instanceof ModelSyncError) return undefined;
  const code = certificateErrorCode(err);
  if (!code) return undefined;
  const addCa = trust?.addCa ? `add its CA with ${trust.addCa(host)}` : 'add its CA to SSL_CERT_FILE or NODE_EXTRA_CA_CERTS';
  const [flag, env] = (trust?.tlsSetting ?? '').split(' / ');
  const noVerify = flag && env ? `set ${flag} false / ${env}=false to skip verification` : undefined;
  let text: string;
  if (UNKNOWN_ISSUER.has(code)) {
    text = `${host} presented a certificate no trusted CA signed (${code}): ${addCa}${noVerify ? `, or ${noVerify}` : ''}`;
  } else if (OUT_OF_DATE.has(code)) {
    const when = code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet';
    text = `${host} presented a certificate that ${when} (${code}): renew it on the server (or check this machine's clock)${noVerify ? `, or ${noVerify}` : ''}`;
  } else if (WRONG_NAME.has(code)) {
    const detail = oneLine((err as Error).message ?? '');
    text = `${host} presented a certificate for other names (${code}: ${detail}): reach it by a name its certificate holds${noVerify ? `, or ${noVerify}` : ''}`;
  } else {
    text = `${host} presented a certificate that was refused (${code}: ${oneLine((err as Error).message ?? '')}): ${addCa}${noVerify ? `, or ${noVerify}` : ''}`;
  }
  return new ModelSyncError('config', text, { cause: err });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
