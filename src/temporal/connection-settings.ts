// How room-sync reaches Temporal beyond the address: TLS (server CA, client certificate for
// mTLS, server name), an API key (Temporal Cloud), extra gRPC headers. Read with Temporal's
// own client environment configuration (@temporalio/envconfig: the TEMPORAL_TLS_*,
// TEMPORAL_API_KEY and TEMPORAL_GRPC_META_* variables and the optional TOML profile the CLI
// and every SDK read), so one set of settings serves room-sync, the `temporal` CLI and ops.
import { existsSync } from 'node:fs';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';

export interface TemporalConnectionSettings {
  /** false or absent: plain TCP; true: TLS with the system's CAs; or the CA, client pair and server name. */
  readonly tls?: TLSConfig | boolean;
  readonly apiKey?: string;
  readonly metadata?: Record<string, string>;
}

export interface TemporalProfile {
  /** From the profile's file, for TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE when those are not set. */
  readonly address?: string;
  readonly namespace?: string;
  readonly connection: TemporalConnectionSettings;
}

export class TemporalProfileError extends Error {
  override readonly name = 'TemporalProfileError';
}

function definedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * The Temporal connection the environment asks for. The TOML file is read only when
 * TEMPORAL_CONFIG_FILE names one or the default file exists (~/.config/temporalio/temporal.toml),
 * its profile TEMPORAL_PROFILE (default `default`); the variables override it. A certificate
 * or key that cannot be read is an error here, at start-up, not at the first connection.
 */
export function loadTemporalProfile(env: NodeJS.ProcessEnv): TemporalProfile {
  // The library treats a missing file as no file; one named on purpose must be there.
  const named = env.TEMPORAL_CONFIG_FILE;
  if (named !== undefined && named !== '' && !existsSync(named)) {
    throw new TemporalProfileError(`TEMPORAL_CONFIG_FILE names ${named}, which does not exist`);
  }
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: definedEnv(env) });
  } catch (error) {
    throw new TemporalProfileError(`Temporal client configuration: ${error instanceof Error ? error.message : String(error)}`);
  }
  let connectionOptions: ReturnType<typeof toClientOptions>['connectionOptions'];
  try {
    // Reads the certificate files; TLS is on when a TLS setting or an API key is given.
    ({ connectionOptions } = toClientOptions(profile));
  } catch (error) {
    throw new TemporalProfileError(`Temporal TLS settings: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { tls, apiKey } = connectionOptions;
  // Headers from the environment are strings (TEMPORAL_GRPC_META_*, the profile's grpc_meta).
  const metadata = profile.grpcMeta;
  const clientPair = typeof tls === 'object' && tls !== null ? tls.clientCertPair : undefined;
  if (typeof tls === 'object' && tls !== null && clientPair === undefined && (profile.tls?.clientCert !== undefined || profile.tls?.clientKey !== undefined)) {
    throw new TemporalProfileError('Temporal TLS settings: a client certificate needs its key and a key its certificate (TEMPORAL_TLS_CLIENT_CERT_* and TEMPORAL_TLS_CLIENT_KEY_*)');
  }
  return {
    ...(profile.address === undefined ? {} : { address: profile.address }),
    ...(profile.namespace === undefined ? {} : { namespace: profile.namespace }),
    connection: {
      ...(tls === undefined || tls === null ? {} : { tls }),
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(metadata === undefined || Object.keys(metadata).length === 0 ? {} : { metadata }),
    },
  };
}

/** True when the connection is more than plain TCP: no local dev server can stand in for such a server. */
export function isSecuredConnection(settings: TemporalConnectionSettings): boolean {
  return (settings.tls !== undefined && settings.tls !== false) || settings.apiKey !== undefined;
}

/** One line for logs and `status`: what is used, never the key or a certificate. */
export function describeConnectionSettings(settings: TemporalConnectionSettings): string {
  const parts: string[] = [];
  if (settings.tls === true) parts.push('TLS (system CAs)');
  else if (typeof settings.tls === 'object' && settings.tls !== null) {
    parts.push(settings.tls.clientCertPair === undefined ? 'TLS' : 'mTLS');
    if (settings.tls.serverRootCACertificate !== undefined) parts.push('own CA');
    if (settings.tls.serverNameOverride !== undefined) parts.push(`server name ${settings.tls.serverNameOverride}`);
  } else parts.push('plain TCP');
  if (settings.apiKey !== undefined) parts.push('API key');
  if (settings.metadata !== undefined) parts.push(`gRPC headers ${Object.keys(settings.metadata).sort().join(', ')}`);
  return parts.join(', ');
}
