import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
//
// Each room's audit chain head and newest field history entry per field, kept on its
// room_sources row: the apply reads and writes them under the room's lock in the same
// transaction, so it never searches the monthly partitions of conflict_audit and
// unified_field_history for them (their cost grew with every month of audit kept).
// Backfilled from the live partitions and, for a room whose audit months are all archived,
// from conflict_audit_archived_heads. `audit verify` checks each stored head against its chain.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE room_sources ADD COLUMN chain_head text`.execute(db);
  await sql`ALTER TABLE room_sources ADD COLUMN field_heads jsonb NOT NULL DEFAULT '{}'::jsonb`.execute(db);
  await sql`
    UPDATE room_sources s SET chain_head = head.row_hash
      FROM (
        SELECT DISTINCT ON (hotel_code, room_code) hotel_code, room_code, row_hash FROM (
          SELECT id, hotel_code, room_code, row_hash FROM conflict_audit
          UNION ALL
          SELECT head_id, hotel_code, room_code, head_hash FROM conflict_audit_archived_heads) rows
         ORDER BY hotel_code, room_code, id DESC) head
     WHERE head.hotel_code = s.hotel_code AND head.room_code = s.room_code`.execute(db);
  await sql`
    UPDATE room_sources s SET field_heads = heads.entries
      FROM (
        SELECT hotel_code, room_code, jsonb_object_agg(field, jsonb_build_object(
                 'field', field, 'value', value, 'source', source, 'rule', rule, 'policy_version', policy_version,
                 'hotel_class', hotel_class, 'legacy_value', legacy_value, 'cloud_value', cloud_value,
                 'source_position', source_position,
                 'source_commit_time', to_char(source_commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))) AS entries
          FROM (SELECT DISTINCT ON (hotel_code, room_code, field) * FROM unified_field_history ORDER BY hotel_code, room_code, field, id DESC) newest
         GROUP BY hotel_code, room_code) heads
     WHERE heads.hotel_code = s.hotel_code AND heads.room_code = s.room_code`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE room_sources DROP COLUMN field_heads`.execute(db);
  await sql`ALTER TABLE room_sources DROP COLUMN chain_head`.execute(db);
}
