/** A self-signed server certificate made with openssl for a test (valid for 127.0.0.1 and localhost, one day). */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

/** PEM files: the server's certificate and key; a client trusts `ca` (the certificate itself). */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

export async function selfSignedCert(dir: string): Promise<TlsFiles> {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  await promisify(execFile)('openssl', [
    ...['req', '-x509', '-nodes', '-days', '1', '-subj', '/CN=localhost'],
    ...['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ...['-keyout', key, '-out', cert],
  ]);
  return { cert, key, ca: cert };
}
