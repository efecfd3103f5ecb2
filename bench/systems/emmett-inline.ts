/**
 * Emmett with an inline projection of the same users read model: a postgreSQLProjection whose
 * handler turns each event into one SQL statement (the seed's INSERT for user_create, its UPDATE for
 * user_update) and runs them in the append's transaction with execute.batchCommand — what Emmett's
 * postgreSQLRawSQLProjection does, written against the batch handler so that the stream name is
 * typed. Emmett's inline projections run in the application, one round trip per statement.
 */
import { SQL } from '@event-driven-io/dumbo';
import type { Event } from '@event-driven-io/emmett';
import { postgreSQLProjection } from '@event-driven-io/emmett-postgresql';
import type { SystemDescriptor } from '../lib/types.js';
import { EmmettSystem, STREAM_PREFIX } from './emmett.js';

type UserCreated = Event<'user_create', { name: string }>;
type UserUpdated = Event<'user_update', { name: string }>;
type UserEvent = UserCreated | UserUpdated;

export const usersProjection = postgreSQLProjection<UserEvent>({
  name: 'users',
  canHandle: ['user_create', 'user_update'],
  handle: async (events, context) => {
    const sqls = events.map((event) => {
      const uuid = event.metadata.streamName.slice(STREAM_PREFIX.length);
      return event.type === 'user_create'
        ? SQL`insert into users (uuid, name, inserted_at, updated_at) values (${uuid}, ${event.data.name}, now(), now())`
        : SQL`update users set name = ${event.data.name}, updated_at = now() where users.uuid = ${uuid}`;
    });
    await context.execute.batchCommand(sqls);
  },
});

export const emmettInline: SystemDescriptor = {
  id: 'emmett_inline',
  label: 'Emmett + inline SQL',
  description:
    'Emmett 0.42 appendToStream with an inline postgreSQLProjection writing the same users table: one INSERT/UPDATE per event in the append transaction.',
  create: (ctx) => new EmmettSystem(ctx, { id: 'emmett_inline', label: 'Emmett + inline SQL', inlineProjection: usersProjection }),
};
