// Certificates for a local cluster started with --tls: a CA of its own, the frontend's
// certificate (localhost, 127.0.0.1) and one client certificate, made once with openssl and
// kept in <data dir>/tls. The frontend requires a client certificate signed by that CA
// (mutual TLS, as Temporal Cloud does), so the cluster proves room-sync's TLS settings.
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TLSConfig } from '@temporalio/client';

const run = promisify(execFile);

/** The name the frontend's certificate is issued to, and clients verify. */
export const clusterServerName = 'localhost';

const validDays = 825;

export interface ClusterCertificates {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export function clusterCertificates(dataDir: string): ClusterCertificates {
  const dir = join(dataDir, 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', [...args]);
  } catch (error) {
    const detail = error instanceof Error && 'stderr' in error ? String(error.stderr).trim() : String(error);
    throw new Error(`openssl ${args[0] ?? ''} failed (openssl is needed for cluster --tls): ${detail}`);
  }
}

/** An ECDSA P-256 key and certificate signed by the cluster's CA, with the given extensions. */
async function issue(certs: ClusterCertificates, caKey: string, name: string, keyPath: string, certPath: string, extensions: string): Promise<void> {
  const request = join(certs.dir, `${name}.csr`);
  const extensionFile = join(certs.dir, `${name}.ext`);
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', request, '-subj', `/CN=${name}`]);
  await writeFile(extensionFile, extensions);
  await openssl(['x509', '-req', '-in', request, '-CA', certs.caCert, '-CAkey', caKey, '-CAcreateserial', '-out', certPath, '-days', String(validDays), '-extfile', extensionFile]);
  await rm(request);
  await rm(extensionFile);
}

/** Makes the CA, the frontend's and the client's certificates unless they exist; returns their paths. */
export async function ensureClusterCertificates(dataDir: string, log: (message: string) => void): Promise<ClusterCertificates> {
  const certs = clusterCertificates(dataDir);
  const all = [certs.caCert, certs.serverCert, certs.serverKey, certs.clientCert, certs.clientKey];
  if ((await Promise.all(all.map(exists))).every(Boolean)) return certs;
  await mkdir(certs.dir, { recursive: true, mode: 0o700 });
  const caKey = join(certs.dir, 'ca.key');
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', certs.caCert,
    '-days', String(validDays), '-subj', '/CN=room-sync local cluster CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const leaf = (usage: string, san: string) =>
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\n${san === '' ? '' : `subjectAltName=${san}\n`}`;
  await issue(certs, caKey, clusterServerName, certs.serverKey, certs.serverCert, leaf('serverAuth,clientAuth', `DNS:${clusterServerName},IP:127.0.0.1`));
  await issue(certs, caKey, 'room-sync', certs.clientKey, certs.clientCert, leaf('clientAuth', ''));
  log(`made the cluster's TLS certificates in ${certs.dir} (CA, frontend ${clusterServerName}, client)`);
  return certs;
}

/** What a client of the cluster connects with: the CA, the client pair, the server name. */
export async function clusterClientTls(certs: ClusterCertificates): Promise<TLSConfig> {
  return {
    serverNameOverride: clusterServerName,
    serverRootCACertificate: await readFile(certs.caCert),
    clientCertPair: { crt: await readFile(certs.clientCert), key: await readFile(certs.clientKey) },
  };
}

/** The variables that point room-sync (and the `temporal` CLI) at the cluster's TLS: Temporal's standard names. */
export function clusterTlsEnvironment(certs: ClusterCertificates): Record<string, string> {
  return {
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
    TEMPORAL_TLS_SERVER_NAME: clusterServerName,
  };
}
