import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { listHotelRooms, lockHotelExclusive } from '../db/room-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { RoomKey } from '../domain/room.js';
import { legacyHotelCode, mapLegacyProperty, mapLegacyRoom, mapLegacyRoomKey } from '../mapping/legacy.js';
import { roomChange, sameRoom, type DeadLetterSink, type RoomSignal, type RowEvent, type SourceDecoder } from './row-event.js';

interface LegacyHotelWrite {
  readonly hotelCode: string;
  readonly present: boolean;
  readonly mgmtType: string;
  readonly currency: string;
}

/**
 * Legacy rooms carry their rate in the property's currency and their class in the
 * property's mgmt_typ. Property changes go to `legacy_hotels` (newest position wins)
 * and every room of the hotel is signalled to re-resolve.
 */
export class LegacyDecoder implements SourceDecoder {
  constructor(
    private readonly db: Kysely<UnifiedDatabase>,
    private readonly deadLetter: DeadLetterSink,
  ) {}

  async load(): Promise<void> {
    // Nothing cached: legacy_hotels is read inside each apply transaction.
  }

  async decode(event: RowEvent): Promise<RoomSignal[]> {
    if (event.table === 'public.htl_property') return this.decodeProperty(event);
    if (event.table === 'public.htl_room_inv') return this.decodeRoom(event);
    return [];
  }

  roomOf(table: string, row: Record<string, unknown>): RoomKey | null {
    if (table !== 'public.htl_room_inv') return null;
    const key = mapLegacyRoomKey(row);
    return key.ok ? key.value : null;
  }

  private async decodeRoom(event: RowEvent): Promise<RoomSignal[]> {
    const signals: RoomSignal[] = [];
    const oldKey = event.old ? mapLegacyRoomKey(event.old) : null;
    if (event.row === null) {
      // Legacy never deletes rows (it marks them 'D'); a hard delete still means the room left.
      if (!oldKey?.ok) {
        await this.deadLetter(event, event.old ?? {}, oldKey ? oldKey.reason : 'delete without the old row (REPLICA IDENTITY FULL missing)');
        return [];
      }
      return [roomChange(event, oldKey.value, null)];
    }
    const mapped = mapLegacyRoom(event.row);
    if (!mapped.ok) {
      await this.deadLetter(event, event.row, mapped.reason);
      return [];
    }
    // A renumbered room leaves its old key.
    if (oldKey?.ok && !sameRoom(oldKey.value, mapped.value.room)) signals.push(roomChange(event, oldKey.value, null));
    signals.push(roomChange(event, mapped.value.room, mapped.value.values));
    return signals;
  }

  private async decodeProperty(event: RowEvent): Promise<RoomSignal[]> {
    const writes: LegacyHotelWrite[] = [];
    if (event.row !== null) {
      const mapped = mapLegacyProperty(event.row);
      if (!mapped.ok) {
        // Not applied: the hotel keeps its last good currency and class.
        await this.deadLetter(event, event.row, mapped.reason);
        return [];
      }
      writes.push({ ...mapped.value, present: true });
    }
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a decoded pgoutput column: text or null, never an object
    const oldHotel = event.old ? legacyHotelCode(String(event.old['prop_cd'] ?? '')) : null;
    if (oldHotel?.ok && !writes.some((write) => write.hotelCode === oldHotel.value)) {
      const old = mapLegacyProperty(event.old);
      writes.push({
        hotelCode: oldHotel.value,
        present: false,
        mgmtType: old.ok ? old.value.mgmtType : '',
        currency: old.ok ? old.value.currency : 'XXX',
      });
    }
    const signals: RoomSignal[] = [];
    for (const write of writes) {
      const rooms = await this.recordHotel(event, write);
      for (const room of rooms) {
        signals.push({
          room,
          change: {
            kind: 'legacy-hotel',
            source: 'legacy',
            hotelCode: room.hotelCode,
            roomCode: room.roomCode,
            position: event.position,
            commitTime: event.commitTime,
          },
        });
      }
    }
    return signals;
  }

  /** Writes the hotel and lists its rooms under the hotel's exclusive lock (see lockHotelShared). */
  private async recordHotel(event: RowEvent, write: LegacyHotelWrite) {
    return this.db.transaction().execute(async (trx) => {
      await lockHotelExclusive(trx, write.hotelCode);
      const values = {
        present: write.present,
        mgmt_typ: write.mgmtType,
        currency: write.currency,
        position: event.position,
        commit_time: event.commitTime,
        updated_at: sql<Date>`now()`,
        reason: null,
      };
      await trx
        .insertInto('legacy_hotels')
        .values({ hotel_code: write.hotelCode, ...values })
        .onConflict((conflict) =>
          conflict.column('hotel_code').doUpdateSet(values).where('legacy_hotels.position', '<', event.position),
        )
        .execute();
      return listHotelRooms(trx, write.hotelCode);
    });
  }
}
