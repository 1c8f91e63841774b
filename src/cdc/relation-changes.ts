import pg from 'pg';

/** A column as a pgoutput relation message describes it. */
export interface RelationColumnShape {
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

export interface RelationColumnChanges {
  readonly added: readonly string[];
  readonly dropped: readonly string[];
  /** `column old→new`, types by name where pg knows them (`available_count int4→int8`). */
  readonly retyped: readonly string[];
}

const builtinTypeNames = new Map<number, string>(Object.entries(pg.types.builtins).map(([name, oid]) => [oid, name.toLowerCase()]));

function typeName(column: RelationColumnShape): string {
  const name = builtinTypeNames.get(column.typeOid) ?? `type oid ${column.typeOid}`;
  if (column.typeMod < 0) return name;
  // Postgres's type modifiers: numeric packs ((precision << 16) | scale) + 4, the character types length + 4.
  if (name === 'numeric') return `numeric(${(column.typeMod - 4) >> 16},${(column.typeMod - 4) & 0xffff})`;
  if (name === 'bpchar' || name === 'varchar') return `${name}(${column.typeMod - 4})`;
  return `${name}(modifier ${column.typeMod})`;
}

/**
 * What changed in a source table's columns between two relation messages; null when nothing
 * did. Postgres sends a relation message at a session's first change of each table and again
 * after its columns change, so the connector can say in its log when a partner altered a table.
 */
export function diffRelationColumns(
  previous: readonly RelationColumnShape[],
  next: readonly RelationColumnShape[],
): RelationColumnChanges | null {
  const before = new Map(previous.map((column) => [column.name, column]));
  const after = new Map(next.map((column) => [column.name, column]));
  const added = next.filter((column) => !before.has(column.name)).map((column) => column.name);
  const dropped = previous.filter((column) => !after.has(column.name)).map((column) => column.name);
  const retyped: string[] = [];
  for (const column of next) {
    const old = before.get(column.name);
    if (old && (old.typeOid !== column.typeOid || old.typeMod !== column.typeMod)) retyped.push(`${column.name} ${typeName(old)}→${typeName(column)}`);
  }
  return added.length + dropped.length + retyped.length === 0 ? null : { added, dropped, retyped };
}
