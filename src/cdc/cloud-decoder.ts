import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { UnifiedDatabase } from '../db/schema.js';
import type { RoomKey } from '../domain/room.js';
import { mapCloudProperty, mapCloudRoom, mapCloudRoomKey } from '../mapping/cloud.js';
import { roomChange, sameRoom, type DeadLetterSink, type RoomSignal, type RowEvent, type SourceDecoder } from './row-event.js';

/**
 * Cloud rooms are keyed through their property. The property id → hotel code map is
 * kept in `cloud_properties` (so a restarted connector, and deletes, can key rows)
 * and cached here.
 */
export class CloudDecoder implements SourceDecoder {
  private readonly hotelByProperty = new Map<string, string>();

  constructor(
    private readonly db: Kysely<UnifiedDatabase>,
    private readonly sourcePool: pg.Pool,
    private readonly deadLetter: DeadLetterSink,
  ) {}

  async load(): Promise<void> {
    const rows = await this.db.selectFrom('cloud_properties').select(['property_id', 'hotel_code']).execute();
    this.hotelByProperty.clear();
    for (const row of rows) this.hotelByProperty.set(row.property_id, row.hotel_code);
  }

  async decode(event: RowEvent): Promise<RoomSignal[]> {
    if (event.table === 'public.properties') return this.decodeProperty(event);
    if (event.table === 'public.room_inventory') return this.decodeRoom(event);
    return [];
  }

  roomOf(table: string, row: Record<string, unknown>): RoomKey | null {
    if (table !== 'public.room_inventory') return null;
    const key = mapCloudRoomKey(row, this.hotelCodeOf);
    return key.ok ? key.value : null;
  }

  private readonly hotelCodeOf = (propertyId: string): string | undefined => this.hotelByProperty.get(propertyId);

  private async decodeRoom(event: RowEvent): Promise<RoomSignal[]> {
    const oldKey = event.old ? mapCloudRoomKey(event.old, this.hotelCodeOf) : null;
    if (event.row === null) {
      if (!oldKey?.ok) {
        await this.deadLetter(event, event.old ?? {}, oldKey ? oldKey.reason : 'delete without the old row (REPLICA IDENTITY FULL missing)');
        return [];
      }
      return [roomChange(event, oldKey.value, null)];
    }
    const mapped = mapCloudRoom(event.row, this.hotelCodeOf);
    if (!mapped.ok) {
      await this.deadLetter(event, event.row, mapped.reason);
      return [];
    }
    const signals: RoomSignal[] = [];
    if (oldKey?.ok && !sameRoom(oldKey.value, mapped.value.room)) signals.push(roomChange(event, oldKey.value, null));
    signals.push(roomChange(event, mapped.value.room, mapped.value.values));
    return signals;
  }

  private async decodeProperty(event: RowEvent): Promise<RoomSignal[]> {
    if (event.row === null) {
      // The platform deletes a property only after its rooms (foreign key): nothing to re-key.
      const propertyId = typeof event.old?.['id'] === 'string' ? event.old['id'] : null;
      if (propertyId !== null) {
        await this.db
          .updateTable('cloud_properties')
          .set({ present: false, position: event.position, updated_at: sql<Date>`now()` })
          .where('property_id', '=', propertyId)
          .where('position', '<', event.position)
          .execute();
      }
      return [];
    }
    const mapped = mapCloudProperty(event.row);
    if (!mapped.ok) {
      await this.deadLetter(event, event.row, mapped.reason);
      return [];
    }
    const { propertyId, hotelCode } = mapped.value;
    const previousCode = this.hotelByProperty.get(propertyId);
    const values = { hotel_code: hotelCode, present: true, position: event.position, updated_at: sql<Date>`now()` };
    await this.db
      .insertInto('cloud_properties')
      .values({ property_id: propertyId, ...values })
      .onConflict((conflict) => conflict.column('property_id').doUpdateSet(values).where('cloud_properties.position', '<', event.position))
      .execute();
    this.hotelByProperty.set(propertyId, hotelCode);
    if (previousCode === undefined || previousCode === hotelCode) return [];
    return this.rekeyRooms(event, propertyId, previousCode);
  }

  /**
   * A property's code changed: its rooms leave the old hotel key and arrive under the
   * new one. Their values are read from the source now; later changes still replace
   * them in log order.
   */
  private async rekeyRooms(event: RowEvent, propertyId: string, previousCode: string): Promise<RoomSignal[]> {
    const { rows } = await this.sourcePool.query<Record<string, unknown>>('SELECT * FROM public.room_inventory WHERE property_id = $1', [propertyId]);
    const signals: RoomSignal[] = [];
    for (const row of rows) {
      const mapped = mapCloudRoom(row, this.hotelCodeOf);
      const oldKey = mapCloudRoomKey(row, () => previousCode);
      if (oldKey.ok) signals.push(roomChange(event, oldKey.value, null));
      if (mapped.ok) signals.push(roomChange(event, mapped.value.room, mapped.value.values));
      else await this.deadLetter({ ...event, table: 'public.room_inventory' }, row, mapped.reason);
    }
    return signals;
  }
}
