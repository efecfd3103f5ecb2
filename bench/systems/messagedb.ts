/**
 * Message DB (@eventide/message-db 1.3.1, its SQL installed from the npm package): write_message,
 * one transaction per batch. Streams are `user-<uuid>`, all in the category `user`; write_message
 * takes an advisory lock on the stream's category, so writers of one category run one at a time.
 * A batch is one statement that calls write_message once per event (Message DB has no batch write).
 * Installed: schema, table, type, functions, indexes (not its role, views or grants).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { withClient } from '../lib/db.js';
import { connect } from '../lib/pg-writer.js';
import type { Batch, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Writer } from '../lib/types.js';

const PACKAGE = '@eventide/message-db';

/** The install order of the package's database/install.sh and install-functions/indexes.sh. */
const FILES = [
  'schema/message-store.sql',
  'tables/messages.sql',
  'types/message.sql',
  'functions/message-store-version.sql',
  'functions/hash-64.sql',
  'functions/acquire-lock.sql',
  'functions/category.sql',
  'functions/is-category.sql',
  'functions/id.sql',
  'functions/cardinal-id.sql',
  'functions/stream-version.sql',
  'functions/write-message.sql',
  'functions/get-stream-messages.sql',
  'functions/get-category-messages.sql',
  'functions/get-last-stream-message.sql',
  'indexes/messages-id.sql',
  'indexes/messages-stream.sql',
  'indexes/messages-category.sql',
];

function databaseDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${PACKAGE}/package.json`)), 'database');
}

async function unavailable(): Promise<string | null> {
  try {
    databaseDir();
    return null;
  } catch {
    return `${PACKAGE} is not installed (npm i -D -E ${PACKAGE}@1.3.1)`;
  }
}

const SEARCH_PATH = 'set search_path = message_store, public';

class MessageDbWriter implements Writer {
  constructor(private readonly client: pg.Client) {}

  async append(batch: Batch): Promise<void> {
    const stream = 'user-' + batch.stream;
    if (batch.events.length === 1) {
      const e = batch.events[0]!;
      await this.client.query({
        name: 'write_message',
        text: 'select message_store.write_message($1, $2, $3, $4)',
        values: [randomUUID(), stream, e.type, JSON.stringify(e.body)],
      });
      return;
    }
    await this.client.query({
      name: 'write_messages',
      text: `select count(message_store.write_message(m.id, $1, m.type, m.data))
               from unnest($2::varchar[], $3::varchar[], $4::jsonb[]) with ordinality as m(id, type, data, ord)`,
      values: [
        stream,
        batch.events.map(() => randomUUID()),
        batch.events.map((e) => e.type),
        batch.events.map((e) => JSON.stringify(e.body)),
      ],
    });
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

class MessageDbSystem implements SystemUnderTest {
  readonly id = 'messagedb';
  readonly label = 'Message DB';
  readonly projects = false;
  readonly unsupported = {
    bulk: 'no bulk path: messages are written through write_message',
    replay: 'no projection in the database',
    rebuild: 'no projection in the database',
  };

  constructor(private readonly ctx: SystemContext) {}

  async setup(): Promise<void> {
    const dir = databaseDir();
    await withClient(this.ctx.databaseUrl, async (c) => {
      await c.query(SEARCH_PATH);
      for (const file of FILES) await c.query(readFileSync(join(dir, file), 'utf8'));
    });
  }

  async openWriter(): Promise<Writer> {
    return new MessageDbWriter(await connect(this.ctx.databaseUrl, SEARCH_PATH));
  }

  counts(): Promise<Counts> {
    return withClient(this.ctx.databaseUrl, async (c) => {
      const r = await c.query<{ n: string }>('select count(*) as n from message_store.messages');
      return { events: Number(r.rows[0]?.n ?? 0), users: null };
    });
  }

  async close(): Promise<void> {}
}

export const messageDb: SystemDescriptor = {
  id: 'messagedb',
  label: 'Message DB',
  description:
    'Message DB 1.3.1 (SQL from the @eventide/message-db npm package): write_message per event, streams user-<uuid> in one category.',
  unavailable,
  create: (ctx) => new MessageDbSystem(ctx),
};
