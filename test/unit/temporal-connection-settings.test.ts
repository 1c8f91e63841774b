// The Temporal connection room-sync builds from the environment: TLS, mutual TLS, an API key,
// gRPC headers and a TOML profile (Temporal's client environment configuration), and the
// errors a bad setting gives. The TLS path end to end is proven on a cluster serving mutual TLS
// (test/integration/cluster.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError, configSecrets, loadConfig } from '../../src/config/env.js';
import { ensureTemporalServer } from '../../src/setup/temporal.js';
import { describeConnectionSettings, isSecuredConnection } from '../../src/temporal/connection-settings.js';

let dir = '';
/** No HOME of the machine's: a ~/.config/temporalio/temporal.toml there must not leak into these tests. */
let base: NodeJS.ProcessEnv = {};
const ca = '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n';
const crt = '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n';
const key = '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-temporal-settings-'));
  base = { HOME: dir };
  await writeFile(join(dir, 'ca.pem'), ca);
  await writeFile(join(dir, 'client.pem'), crt);
  await writeFile(join(dir, 'client.key'), key);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('nothing set: plain TCP to the local default, as before', () => {
  const config = loadConfig(base);
  assert.equal(config.TEMPORAL_ADDRESS, '127.0.0.1:7233');
  assert.equal(config.TEMPORAL_NAMESPACE, 'default');
  assert.deepEqual(config.temporalConnection, {});
  assert.equal(isSecuredConnection(config.temporalConnection), false);
  assert.equal(describeConnectionSettings(config.temporalConnection), 'plain TCP');
});

test('mutual TLS from files: the CA, the client pair and the server name reach the connection', () => {
  const config = loadConfig({
    ...base,
    TEMPORAL_ADDRESS: 'temporal.internal:7233',
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
    TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal',
  });
  const { tls } = config.temporalConnection;
  assert.ok(typeof tls === 'object' && tls !== null);
  assert.equal(tls.serverNameOverride, 'frontend.temporal');
  assert.equal(Buffer.from(tls.serverRootCACertificate ?? []).toString(), ca);
  assert.equal(Buffer.from(tls.clientCertPair?.crt ?? []).toString(), crt);
  assert.equal(Buffer.from(tls.clientCertPair?.key ?? []).toString(), key);
  assert.equal(isSecuredConnection(config.temporalConnection), true);
  assert.equal(describeConnectionSettings(config.temporalConnection), 'mTLS, own CA, server name frontend.temporal');
});

test('an API key (Temporal Cloud) turns TLS on with the system CAs and is a secret', () => {
  const apiKey = 'eyJhbGciOiJFUzI1NiJ9.room-sync-test-key';
  const config = loadConfig({ ...base, TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'rooms.a1b2c', TEMPORAL_API_KEY: apiKey });
  assert.equal(config.temporalConnection.apiKey, apiKey);
  assert.equal(config.temporalConnection.tls, true);
  assert.equal(config.TEMPORAL_NAMESPACE, 'rooms.a1b2c');
  assert.equal(describeConnectionSettings(config.temporalConnection), 'TLS (system CAs), API key');
  assert.ok(configSecrets(config).some((secret) => secret.value === apiKey), 'the key is redacted from logs');
  // TLS can be turned off explicitly for a key-checking proxy on a private network.
  assert.equal(loadConfig({ ...base, TEMPORAL_API_KEY: apiKey, TEMPORAL_TLS: 'false' }).temporalConnection.tls, false);
});

test('gRPC headers from TEMPORAL_GRPC_META_*: named, never shown', () => {
  const config = loadConfig({ ...base, TEMPORAL_GRPC_META_X_TENANT: 'hotels', TEMPORAL_GRPC_META_AUTHORIZATION: 'Bearer secret-token' });
  assert.deepEqual(config.temporalConnection.metadata, { 'x-tenant': 'hotels', authorization: 'Bearer secret-token' });
  assert.equal(describeConnectionSettings(config.temporalConnection), 'plain TCP, gRPC headers authorization, x-tenant');
  assert.ok(configSecrets(config).some((secret) => secret.value === 'Bearer secret-token'), 'header values are redacted from logs');
});

test('a TOML profile gives address, namespace and TLS; the variables win over it', async () => {
  const file = join(dir, 'temporal.toml');
  await writeFile(
    file,
    [
      '[profile.default]',
      'address = "temporal.example.internal:7233"',
      'namespace = "inventory"',
      '[profile.default.tls]',
      `server_ca_cert_path = "${join(dir, 'ca.pem')}"`,
      '[profile.staging]',
      'address = "staging.internal:7233"',
      '',
    ].join('\n'),
  );
  const fromFile = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file });
  assert.equal(fromFile.TEMPORAL_ADDRESS, 'temporal.example.internal:7233');
  assert.equal(fromFile.TEMPORAL_NAMESPACE, 'inventory');
  const { tls } = fromFile.temporalConnection;
  assert.ok(typeof tls === 'object' && tls !== null);
  assert.equal(Buffer.from(tls.serverRootCACertificate ?? []).toString(), ca);

  const overridden = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: '10.0.0.5:7233' });
  assert.equal(overridden.TEMPORAL_ADDRESS, '10.0.0.5:7233');
  assert.equal(loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'staging' }).TEMPORAL_ADDRESS, 'staging.internal:7233');
  // The default file is found under XDG_CONFIG_HOME / HOME, as the CLI finds it.
  await writeFile(join(dir, 'default.toml'), '[profile.default]\naddress = "from-home.internal:7233"\n');
  const { mkdir, rename } = await import('node:fs/promises');
  await mkdir(join(dir, 'xdg', 'temporalio'), { recursive: true });
  await rename(join(dir, 'default.toml'), join(dir, 'xdg', 'temporalio', 'temporal.toml'));
  assert.equal(loadConfig({ ...base, XDG_CONFIG_HOME: join(dir, 'xdg') }).TEMPORAL_ADDRESS, 'from-home.internal:7233');
});

test('bad settings are configuration errors that say what is wrong, before anything connects', async () => {
  const message = (env: NodeJS.ProcessEnv): string => {
    try {
      loadConfig({ ...base, ...env });
    } catch (error) {
      assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
      return error.message;
    }
    assert.fail('no error');
  };
  assert.match(message({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing-ca.pem') }), /Temporal TLS settings: .*missing-ca\.pem/);
  assert.match(message({ TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem') }), /client certificate needs its key/);
  assert.match(message({ TEMPORAL_CONFIG_FILE: join(dir, 'nope.toml') }), /TEMPORAL_CONFIG_FILE names .*nope\.toml, which does not exist/);
  assert.match(message({ TEMPORAL_PROFILE: 'production' }), /Profile 'production' not found/);
  const bad = join(dir, 'bad-address.toml');
  await writeFile(bad, '[profile.default]\naddress = "no port here"\n');
  assert.match(message({ TEMPORAL_CONFIG_FILE: bad }), /TEMPORAL_ADDRESS="no port here": must be host:port/);
  const secret = 'very-secret-api-key';
  assert.doesNotMatch(message({ TEMPORAL_API_KEY: secret, TEMPORAL_ADDRESS: 'not an address' }), new RegExp(secret));
});

test('a secured connection to a server that does not answer: an error, and no local dev server in its place', async () => {
  // Port 9 (discard) on this machine: nothing listens there.
  await assert.rejects(
    ensureTemporalServer({ projectRoot: dir, address: '127.0.0.1:9', namespace: 'default', secured: true, log: () => undefined }),
    /no Temporal server answers on 127\.0\.0\.1:9, and TLS or an API key is configured/,
  );
});
