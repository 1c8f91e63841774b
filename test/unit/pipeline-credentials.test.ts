import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import { cdcRole, pipelineRole, userOf, withUser } from '../../src/db/pipeline-credentials.js';
import { sourceGrantStatements, unifiedGrantStatements } from '../../src/setup/roles.js';

test('the pipeline URL is the configured one with only the user replaced: password, host, database and options stay', () => {
  const configured = 'postgres://owner:p%40ss%3Aword@db.internal:6432/unified_inventory?sslmode=require&application_name=x';
  const derived = new URL(withUser(configured, pipelineRole));
  const original = new URL(configured);
  assert.equal(derived.username, pipelineRole);
  assert.equal(derived.password, original.password);
  assert.equal(decodeURIComponent(derived.password), 'p@ss:word');
  assert.equal(derived.host, original.host);
  assert.equal(derived.pathname, original.pathname);
  assert.equal(derived.search, original.search);
  assert.equal(userOf(withUser('postgres://postgres@127.0.0.1:5432/legacy_inventory', cdcRole)), cdcRole);
  // A URL without a password keeps none (trust authentication).
  assert.equal(withUser('postgres://postgres@127.0.0.1:5432/legacy_inventory', cdcRole), 'postgres://room_sync_cdc@127.0.0.1:5432/legacy_inventory');
});

test('the slot name does not depend on the user: the connector finds the slot set-up made whichever role connects', () => {
  const configured = 'postgres://postgres@127.0.0.1:5432/legacy_inventory';
  assert.equal(describeSource('legacy', withUser(configured, cdcRole)).slotName, describeSource('legacy', configured).slotName);
});

test('the grants an admin runs: DML on operational tables, SELECT and INSERT only on the append-only ones', () => {
  const statements = unifiedGrantStatements(
    'unified_inventory',
    'public',
    [
      { name: 'conflict_audit', append_only: true },
      { name: 'unified_rooms', append_only: false },
    ],
    ['bookable_rooms'],
    pipelineRole,
  );
  assert.deepEqual(statements, [
    'GRANT CONNECT ON DATABASE "unified_inventory" TO "room_sync_pipeline"',
    'GRANT USAGE ON SCHEMA "public" TO "room_sync_pipeline"',
    'GRANT SELECT, INSERT ON "public"."conflict_audit" TO "room_sync_pipeline"',
    'GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."unified_rooms" TO "room_sync_pipeline"',
    'GRANT SELECT ON "public"."bookable_rooms" TO "room_sync_pipeline"',
    'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "room_sync_pipeline"',
  ]);
  assert.ok(!statements.some((statement) => /TRUNCATE|OWNER|TRIGGER|REFERENCES/.test(statement)));
  assert.deepEqual(sourceGrantStatements('legacy_inventory', ['public.htl_property', 'public.htl_room_inv'], cdcRole), [
    'GRANT CONNECT ON DATABASE "legacy_inventory" TO "room_sync_cdc"',
    'GRANT USAGE ON SCHEMA "public" TO "room_sync_cdc"',
    'GRANT USAGE ON SCHEMA "room_sync" TO "room_sync_cdc"',
    'GRANT SELECT ON "public"."htl_property", "public"."htl_room_inv" TO "room_sync_cdc"',
    'GRANT SELECT, INSERT, UPDATE ON "room_sync"."heartbeat" TO "room_sync_cdc"',
  ]);
});
