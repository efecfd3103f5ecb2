import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InvalidArgumentError, openEventStore } from '../../src/index.js';
import type { EventStore, Subscription } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { findPgClient } from '../support/pg-client.js';
import { READ_ALL_TEST_TIMEOUT_MS } from './fixtures.js';
import { engineLabel, recorder, runCli, waitFor } from './subscriptions.contract.js';

async function* lines(...texts: string[]): AsyncIterable<string> {
  yield* texts;
}

const ENCRYPTED = expect.objectContaining({ $pgevents: 'encrypted', key: expect.any(Number), data: expect.any(String) });
const ERASED = { $pgevents: 'erased' };

export default function personalDataContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`personal data (${engineLabel(engine)})`, { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
    let t: TestStore;
    /** Appends and reads as the application: a writer and subscriber (the owner on the embedded engine). */
    let store: EventStore;
    /** Declares, forgets and reads the raw table: the store's owner. */
    let owner: EventStore;
    let schema: string;
    const running: Subscription[] = [];
    // Each subject's plaintext values, which must never be in the events table.
    const secrets = (user: string) => [`${user}@example.org`, `${user} street 1`];
    const register = (user: string) => ({ type: 'pd_registered', body: { userId: user, email: `${user}@example.org`, address: { street: `${user} street 1`, city: 'Ghent' } } });
    const rawMatches = async (text: string) =>
      Number((await owner.query<{ n: string }>(`select count(*)::text as n from ${schema}.events where body::text like '%' || $1 || '%' or metadata::text like '%' || $1 || '%'`, [text]))[0]!.n);
    const readModel = async () =>
      owner.query<{ id: string; email: string; street: string }>('select id, email, street from public.pd_users order by id');

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      owner = t.owner ?? t.store;
      schema = owner.schema;
      await owner.declarePersonalData({ type: 'pd_registered', fields: ['email', 'address.street'], subject: 'body.userId' });
      await owner.declarePersonalData({ type: 'pd_noted', fields: ['note'], subject: 'stream' });
      await owner.execScript(`
        create table public.pd_users (id text primary key, email text, street text);
        create function public.pd_on_registered(e ${schema}.events) returns void
        language sql set search_path = public, pg_temp
        as $$ insert into pd_users (id, email, street) values (e.body->>'userId', e.body->>'email', e.body#>>'{address,street}')
              on conflict (id) do update set email = excluded.email, street = excluded.street $$;
      `);
      await owner.defineProjection({ name: 'pd_users', handlers: { pd_registered: 'public.pd_on_registered' }, tables: ['public.pd_users'] });
    });

    afterAll(async () => {
      await Promise.all(running.map((subscription) => subscription.stop()));
      await t?.dispose();
    });

    it('stores declared fields encrypted on every append path; the events table never holds the plaintext', async () => {
      expect(await owner.personalDataDeclarations()).toEqual([
        { type: 'pd_noted', fields: ['note'], subject: 'stream' },
        { type: 'pd_registered', fields: ['email', 'address.street'], subject: 'body.userId' },
      ]);
      const users = ['api', 'fn', 'ins', 'imp'];
      await store.append(randomUUID(), [register('api')]);
      await store.query(`select * from ${schema}.append_events($1, $2::jsonb)`, [randomUUID(), JSON.stringify([register('fn')])]);
      await store.query(`insert into ${schema}.events (uuid, type, body) values ($1, 'pd_registered', $2::jsonb)`, [randomUUID(), JSON.stringify(register('ins').body)]);
      await store.importEvents(lines(`${JSON.stringify({ stream: randomUUID(), ...register('imp') })}\n`), { format: 'ndjson' });
      const noted = randomUUID();
      await store.append(noted, [{ type: 'pd_noted', body: { note: 'nota bene secret', kept: 'visible' } }]);

      for (const user of users) for (const secret of secrets(user)) expect(await rawMatches(secret)).toBe(0);
      expect(await rawMatches('nota bene secret')).toBe(0);
      const raw = await owner.query<{ body: Record<string, unknown> }>(`select body from ${schema}.events where type = 'pd_registered' order by id`);
      expect(raw).toHaveLength(4);
      for (const { body } of raw) {
        expect(body).toMatchObject({ email: ENCRYPTED, address: { street: ENCRYPTED, city: 'Ghent' } });
        expect(users).toContain(body.userId);
      }
      // The owner (and the projection's trigger) read them decrypted.
      expect((await owner.readStream(noted))[0]!.body).toEqual({ note: 'nota bene secret', kept: 'visible' });
      // Declared again with other fields: later events encrypt those, earlier ones still read in clear.
      await owner.declarePersonalData({ type: 'pd_noted', fields: ['kept'], subject: 'stream' });
      await store.append(noted, [{ type: 'pd_noted', body: { note: 'now in clear', kept: 'now secret' } }]);
      expect(await rawMatches('now secret')).toBe(0);
      expect(await rawMatches('now in clear')).toBe(1);
      expect((await owner.readStream(noted)).map((e) => e.body)).toEqual([
        { note: 'nota bene secret', kept: 'visible' },
        { note: 'now in clear', kept: 'now secret' },
      ]);
      expect(await readModel()).toEqual(users.map((u) => ({ id: u, email: `${u}@example.org`, street: `${u} street 1` })).sort((a, b) => a.id.localeCompare(b.id)));
      // One key per subject, made on first use.
      expect(Number((await owner.query<{ n: string }>(`select count(*)::text as n from ${schema}.subject_keys`))[0]!.n)).toBe(5);
    });

    it('reads, readAll and subscriptions decrypt for the owner and personal data readers; other roles see the encrypted markers', async () => {
      const stream = randomUUID();
      await store.append(stream, [register('sub')]);
      const seen = recorder();
      const subscription = await owner.subscribe({ name: 'pd-sub', types: ['pd_registered'], handler: seen.handler });
      running.push(subscription);
      await waitFor(() => seen.events.some((e) => e.stream === stream), 'the subscription to see the event');
      expect(seen.events.find((e) => e.stream === stream)!.body).toMatchObject({ email: 'sub@example.org', address: { street: 'sub street 1' } });
      await waitFor(async () => (await owner.readAll({ types: ['pd_registered'], limit: 1000 })).events.some((e) => e.stream === stream), 'readAll to see the event');
      const all = (await owner.readAll({ types: ['pd_registered'], limit: 1000 })).events.find((e) => e.stream === stream)!;
      expect(all.body).toMatchObject({ email: 'sub@example.org' });

      if (t.roles) {
        // The application role may append but not read the keys: it reads what is stored.
        expect((await store.readStream(stream))[0]!.body).toMatchObject({ userId: 'sub', email: ENCRYPTED, address: { street: ENCRYPTED } });
        await expect(store.query(`select * from ${schema}.subject_keys`)).rejects.toThrow(/permission denied/);
        await owner.grant({ personalDataReaders: [t.roles.application] });
        expect((await store.readStream(stream))[0]!.body).toMatchObject({ email: 'sub@example.org', address: { street: 'sub street 1' } });
      } else {
        expect((await store.readStream(stream))[0]!.body).toMatchObject({ email: 'sub@example.org' });
      }
      // The application's own subscription (as a personal data reader, on the server) gets plaintext too.
      const appSeen = recorder();
      running.push(await store.subscribe({ name: 'pd-app-sub', types: ['pd_registered'], handler: appSeen.handler }));
      await waitFor(() => appSeen.events.some((e) => e.stream === stream), "the application's subscription to see the event");
      expect(appSeen.events.find((e) => e.stream === stream)!.body).toMatchObject({ email: 'sub@example.org', address: { street: 'sub street 1' } });
    });

    it('forget erases a subject everywhere (events, read models, replays), audits it, and changes nothing else', async () => {
      const keep = await readModel();
      const result = await owner.forget('api', { reason: 'erasure request #1' });
      expect(result).toMatchObject({ reason: 'erasure request #1', replayed: ['pd_users'] });
      expect(result.forgottenAt).toBeInstanceOf(Date);

      const events = (await owner.readAll({ types: ['pd_registered'], limit: 1000 })).events;
      const api = events.find((e) => e.body.userId === 'api')!;
      expect(api.body).toEqual({ userId: 'api', email: ERASED, address: { street: ERASED, city: 'Ghent' } });
      expect(events.find((e) => e.body.userId === 'fn')!.body).toMatchObject({ email: 'fn@example.org' });
      expect(await readModel()).toEqual(
        keep.map((row) => (row.id === 'api' ? { id: 'api', email: JSON.stringify(ERASED).replace(':', ': '), street: JSON.stringify(ERASED).replace(':', ': ') } : row)),
      );
      // A replay reproduces the redacted read model.
      const redacted = await readModel();
      await owner.replay('pd_users');
      expect(await readModel()).toEqual(redacted);
      // So does an online rebuild (its shadow tables are filled from current_events, as the owner).
      await owner.rebuild('pd_users');
      expect(await readModel()).toEqual(redacted);

      // The audit event names the key, who, when and why, and holds no personal data.
      const audit = await owner.readStream('00000000-0000-0000-0000-0000000f0e75');
      expect(audit.at(-1)).toMatchObject({ type: 'pgevents.subject_forgotten', body: { keys: result.keys, reason: 'erasure request #1' } });
      expect(JSON.stringify(audit.at(-1)!.body)).not.toContain('api@example.org');

      await expect(owner.forget('api', { reason: 'again' })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(owner.forget('fn', { reason: ' ' })).rejects.toBeInstanceOf(InvalidArgumentError);
      // A new event of a forgotten subject gets a new key and reads in clear.
      await store.append(randomUUID(), [register('api')]);
      expect((await owner.query<{ n: string }>(`select count(*)::text as n from public.pd_users where id = 'api' and email = 'api@example.org'`))[0]!.n).toBe('1');
    });

    it.runIf(engine.name === 'server')('pgevents forget <subject> --reason --json', async () => {
      const cli = (...args: string[]) => runCli(['--database-url', t.url!, ...args]);
      if (t.roles) {
        // Forgetting is the store owner's: the application role is refused, and nothing changes.
        expect((await cli('forget', 'fn', '--reason', 'not mine')).exitCode).not.toBe(0);
        expect((await owner.query<{ email: string }>(`select email from public.pd_users where id = 'fn'`))[0]!.email).toBe('fn@example.org');
        return;
      }
      const declared = await cli('--json', 'personal-data', 'declare', 'pd_cli', '--field', 'email', '--field', 'phone', '--subject', 'metadata.person');
      expect(declared.exitCode).toBe(0);
      expect(JSON.parse(declared.stdout)).toEqual({ type: 'pd_cli', fields: ['email', 'phone'], subject: 'metadata.person' });
      const listed = await cli('--json', 'personal-data', 'list');
      expect(JSON.parse(listed.stdout)).toContainEqual({ type: 'pd_cli', fields: ['email', 'phone'], subject: 'metadata.person' });
      expect((await cli('personal-data', 'declare', 'pd_cli', '--field', 'email', '--subject', 'nobody')).exitCode).not.toBe(0);
      const rotated = await cli('--json', 'personal-data', 'rotate', 'ins');
      expect(rotated.exitCode).toBe(0);
      expect(JSON.parse(rotated.stdout)).toMatchObject({ subject: 'ins', retiredKey: expect.any(Number) });
      expect((await cli('personal-data', 'rotate', 'nobody-at-all')).exitCode).not.toBe(0);
      const forgotten = await cli('--json', 'forget', 'fn', '--reason', 'erasure request #2');
      expect(forgotten.exitCode).toBe(0);
      expect(JSON.parse(forgotten.stdout)).toMatchObject({ subject: 'fn', reason: 'erasure request #2', replayed: ['pd_users'] });
      expect((await owner.query<{ email: string }>(`select email from public.pd_users where id = 'fn'`))[0]!.email).toContain('erased');
      const again = await cli('forget', 'fn', '--reason', 'again');
      expect(again.exitCode).not.toBe(0);
    });

    it.runIf(engine.name === 'server')('after forget, a pg_dump of the whole database holds neither the values nor the key', async ({ skip }) => {
      if (t.roles) skip('pg_dump needs the owner (the keys are the owner\'s)');
      // pg_dump refuses a server newer than itself: the newest one at hand (CI installs 18).
      const pgDump = findPgClient('pg_dump', 14);
      if (pgDump === null) skip('no pg_dump');
      // Rotated first: both keys must go.
      const before1 = await owner.query<{ key: string }>(`select encode(key, 'hex') as key from ${schema}.subject_keys where subject = 'imp'`);
      expect(before1).toHaveLength(1);
      const retired = await owner.rotateSubjectKey('imp');
      await store.append(randomUUID(), [{ ...register('imp'), body: { ...register('imp').body, email: 'imp2@example.org' } }]);
      const keys = (await owner.query<{ key: string }>(`select encode(key, 'hex') as key from ${schema}.subject_keys where subject = 'imp' order by id`)).map((r) => r.key);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toBe(before1[0]!.key);
      const imp = (await owner.readAll({ types: ['pd_registered'], limit: 1000 })).events.filter((e) => e.body.userId === 'imp');
      expect(imp.map((e) => e.body.email)).toEqual(['imp@example.org', 'imp2@example.org']);
      const stored = await owner.query<{ key: number }>(`select (body->'email'->>'key')::int as key from ${schema}.events where type = 'pd_registered' and body->>'userId' = 'imp' order by id`);
      expect(stored.map((r) => r.key)).toEqual([retired, expect.any(Number)]);
      expect(stored[1]!.key).not.toBe(retired);
      const key = keys[0]!;
      const key2 = keys[1]!;
      const dump = async () => (await promisify(execFile)(pgDump!.path, ['--dbname', t.url!], { maxBuffer: 256 * 1024 * 1024 })).stdout;
      // Before: the read model holds imp's values and subject_keys its key (the search can find them).
      const before = await dump();
      expect(before).toContain('imp2@example.org');
      expect(before).toContain(key);
      expect(before).toContain(key2);
      await owner.forget('imp', { reason: 'erasure request #4' });
      const after = await dump();
      for (const secret of [...secrets('imp'), 'imp2@example.org']) expect(after).not.toContain(secret);
      expect(after).not.toContain(key);
      expect(after).not.toContain(key2);
      // Other subjects are untouched.
      expect(after).toContain('ins@example.org');
    });

    it.runIf(engine.name === 'embedded')('an embedded data directory: the store loads pgcrypto itself, and pgevents forget --data-dir works; a PGlite without it is refused with a hint', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'pgevents-personal-data-'));
      try {
        const seed = await PGlite.create({ dataDir, loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
        await seed.close();
        const stream = randomUUID();
        const opened = await openEventStore({ dataDir });
        try {
          await opened.declarePersonalData({ type: 'pd_dir', fields: ['email'], subject: 'stream' });
          await opened.append(stream, [{ type: 'pd_dir', body: { email: 'dir@example.org' } }]);
        } finally {
          await opened.close();
        }
        const forgotten = await runCli(['--data-dir', dataDir, '--json', 'forget', stream, '--reason', 'erasure request #5']);
        expect(forgotten.exitCode).toBe(0);
        expect(JSON.parse(forgotten.stdout)).toMatchObject({ subject: stream, reason: 'erasure request #5', keys: [expect.any(Number)] });
        const reopened = await openEventStore({ dataDir });
        try {
          expect((await reopened.readStream(stream))[0]!.body).toEqual({ email: ERASED });
        } finally {
          await reopened.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }

      const bare = await PGlite.create({ loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
      const withoutCrypto = await openEventStore({ pglite: bare });
      try {
        await expect(withoutCrypto.declarePersonalData({ type: 'pd_bare', fields: ['email'], subject: 'stream' })).rejects.toMatchObject({
          message: expect.stringMatching(/needs the pgcrypto extension/),
          hint: expect.stringMatching(/extensions: \{ pgcrypto \}/),
        });
      } finally {
        await withoutCrypto.close();
        await bare.close();
      }
    });

    it('takes the subject from metadata; forget works in a strict store (the audit type is declared)', async () => {
      await owner.declarePersonalData({ type: 'pd_meta', fields: ['phone'], subject: 'metadata.person' });
      await owner.query(`select ${schema}.define_event_type('pd_meta')`);
      await owner.query(`select ${schema}.set_strict_event_types(true)`);
      const stream = randomUUID();
      await store.append(stream, [{ type: 'pd_meta', body: { phone: '+32 555 0101' }, metadata: { person: 'p-1' } }]);
      await store.append(stream, [{ type: 'pd_meta', body: { phone: '+32 555 0202' }, metadata: { person: 'p-2' } }]);
      expect(await rawMatches('555 0101')).toBe(0);
      await expect(store.append(stream, [{ type: 'pd_meta', body: { phone: '1' } }])).rejects.toThrow(/names no subject/);
      await owner.forget('p-1', { reason: 'erasure request #3' });
      expect((await owner.readStream(stream)).map((e) => e.body)).toEqual([{ phone: ERASED }, { phone: '+32 555 0202' }]);
    });
  });
}
