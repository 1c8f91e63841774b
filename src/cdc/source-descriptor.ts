import type { SourceName } from '../domain/room.js';

/** The pipeline's own schema in each source: only the heartbeat table lives there. */
export const pipelineSchema = 'room_sync';
export const heartbeatTable = `${pipelineSchema}.heartbeat`;

/** Tables each connector captures, in snapshot order: a property before its rooms. */
export const capturedTables: Readonly<Record<SourceName, readonly string[]>> = {
  legacy: ['public.htl_property', 'public.htl_room_inv'],
  cloud: ['public.properties', 'public.room_inventory'],
};

export interface SourceDescriptor {
  readonly source: SourceName;
  readonly databaseUrl: string;
  readonly databaseName: string;
  readonly slotName: string;
  readonly publicationName: string;
  readonly tables: readonly string[];
}

/** Slot names are cluster-wide, so they carry the database name: several deployments or test runs share one server. */
function identifier(...parts: string[]): string {
  return parts
    .join('_')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 63);
}

export function describeSource(source: SourceName, databaseUrl: string): SourceDescriptor {
  const databaseName = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  return {
    source,
    databaseUrl,
    databaseName,
    slotName: identifier('room_sync', source, databaseName),
    publicationName: identifier('room_sync', source),
    tables: capturedTables[source],
  };
}
