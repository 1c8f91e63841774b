import type { Connection } from '@temporalio/client';
// The package is CommonJS: under ESM its namespace comes through the default export.
import proto from '@temporalio/proto';
import { roomSyncSearchAttributes } from '../workflows/search-attributes.js';

const keyword = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** The dev server's flags for them: registered at start, no cache delay. */
export function devServerSearchAttributeArgs(): string[] {
  return roomSyncSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
}

/**
 * Registers room-sync's Keyword search attributes on any cluster through the operator
 * API, idempotently: the ones already there are left alone, a clash of type is an error.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = { ...existing.customAttributes, ...existing.systemAttributes };
  const missing: Record<string, typeof keyword> = {};
  for (const key of roomSyncSearchAttributes) {
    const type = known[key.name];
    if (type === undefined) missing[key.name] = keyword;
    else if (type !== keyword) throw new Error(`search attribute ${key.name} exists in namespace ${namespace} with another type (${String(type)}); room-sync needs Keyword`);
  }
  const names = Object.keys(missing);
  if (names.length > 0) await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  return names;
}
