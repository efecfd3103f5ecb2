import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupEmbeddedStore, InvalidArgumentError, openEventStore } from '../../src/index.js';
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

    it.skipIf(engine.variant !== undefined)(
      engine.name === 'server'
        ? 'after forget, a pg_dump of the whole database holds none of the values nor the keys, wherever pgevents kept them'
        : "after forget, the data directory's files and its backup hold none of the values nor the keys, wherever pgevents kept them",
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'pgevents-forget-dump-'));
        const dataDir = join(dir, 'store');
        let fresh: TestStore | undefined;
        let s: EventStore | undefined;
        const runners: Subscription[] = [];
        try {
          // A store of its own: on the embedded engine in a data directory, whose backup is the dump.
          if (engine.name === 'embedded') {
            const seed = await PGlite.create({ dataDir, loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
            await seed.close();
            s = await openEventStore({ dataDir });
          } else {
            fresh = await engine.createStore();
            s = fresh.store;
          }
          const sc = s.schema;
          await s.declarePersonalData({ type: 'pdd_registered', fields: ['email', 'address.street'], subject: 'body.userId' });
          await s.execScript(`
            create table public.pdd_users (id text primary key, email text, street text);
            create function public.pdd_on_registered(e ${sc}.events) returns void language sql set search_path = public, pg_temp
            as $$ insert into pdd_users values (e.body->>'userId', e.body->>'email', e.body#>>'{address,street}')
                  on conflict (id) do update set email = excluded.email, street = excluded.street $$;
            -- Fails (naming the email, as errors do) while pdd.fail is on: how a rebuild records an error.
            create table public.pdd_fragile (id text primary key, email text);
            create function public.pdd_on_fragile(e ${sc}.events) returns void language plpgsql set search_path = public, pg_temp
            as $$ begin
              if current_setting('pdd.fail', true) = 'on' then raise exception 'cannot store %', e.body->>'email'; end if;
              insert into pdd_fragile values (e.body->>'userId', e.body->>'email') on conflict (id) do update set email = excluded.email;
            end $$;
            create function public.pdd_keep(state jsonb, e ${sc}.events) returns jsonb language sql
            as $$ select state || jsonb_build_object('email', e.body->>'email', 'street', e.body#>>'{address,street}') $$;
            create table public.pdd_async (id text primary key, email text);`);
          await s.defineProjection({ name: 'pdd_users', handlers: { pdd_registered: 'public.pdd_on_registered' }, tables: ['public.pdd_users'] });
          await s.defineProjection({ name: 'pdd_fragile', handlers: { pdd_registered: 'public.pdd_on_fragile' }, tables: ['public.pdd_fragile'] });
          await s.query(`select ${sc}.define_snapshot('pdd_emails', 'public.pdd_keep', array['pdd_registered'], '{}', 1)`);

          const person = (user: string, email: string) => ({ type: 'pdd_registered', body: { userId: user, email, address: { street: `${user} lane 7`, city: 'Ghent' } } });
          const values = ['dmp.one@example.org', 'dmp.two@example.org', 'dmp lane 7'];
          const dmp = randomUUID();
          await s.append(dmp, [person('dmp', 'dmp.one@example.org')]);
          await s.append(randomUUID(), [person('oth', 'oth@example.org')]);
          // Rotated, then a second event by import (its staging table is temporary, dropped at commit): both keys must go.
          await s.rotateSubjectKey('dmp');
          await s.importEvents(lines(`${JSON.stringify({ stream: dmp, ...person('dmp', 'dmp.two@example.org') })}\n`), { format: 'ndjson' });
          const keys = (await s.query<{ key: string }>(`select encode(key, 'hex') as key from ${sc}.subject_keys where subject = 'dmp' order by id`)).map((r) => r.key);
          expect(keys).toHaveLength(2);

          // An async projection keeps the emails in its table.
          const asyncProjection = await s.startAsyncProjection({
            name: 'pdd_async',
            tables: ['public.pdd_async'],
            handlers: {
              pdd_registered: async (e, tx) => {
                await tx.query('insert into public.pdd_async values ($1, $2) on conflict (id) do update set email = excluded.email', [e.body.userId, JSON.stringify(e.body.email)]);
              },
            },
          });
          runners.push(asyncProjection);
          await asyncProjection.caughtUp();
          // A subscription fails on the subject's event, with an error naming the email (kept in last_error).
          runners.push(
            await s.subscribe({
              name: 'pdd-mailer',
              types: ['pdd_registered'],
              retry: { maxAttempts: 1 },
              handler: async (events) => {
                for (const e of events) if (e.body.userId === 'dmp') throw new Error(`mail to ${String(e.body.email)} bounced`);
              },
            }),
          );
          const mailer = async () => (await s!.listSubscriptions()).find((x) => x.name === 'pdd-mailer')!;
          await waitFor(async () => (await mailer()).state === 'failed', 'the mailer subscription to fail');
          // A rebuild of pdd_users built its shadow tables and is not swapped in yet; one of pdd_fragile failed.
          await s.query(`select ${sc}.rebuild_start('pdd_users')`);
          await s.query(`select ${sc}.rebuild_step('pdd_users')`);
          await s.transaction(async (tx) => {
            await tx.query(`select set_config('pdd.fail', 'on', true)`);
            await tx.query(`select ${sc}.rebuild_start('pdd_fragile')`);
            await tx.query(`select ${sc}.rebuild_step('pdd_fragile')`);
          });

          // Where pgevents kept the values, one place at a time, before and after.
          const places = async (): Promise<Record<string, string>> => {
            const one = async (sql: string) => JSON.stringify(await s!.query(sql));
            const shadow = (await s!.query<{ shadow_schema: string }>(`select shadow_schema from ${sc}.rebuilds where projection = 'pdd_users' and phase <> 'done'`))[0]?.shadow_schema;
            return {
              readModel: await one('select * from public.pdd_users'),
              snapshot: await one(`select state from ${sc}_snapshots.pdd_emails`),
              asyncProjection: await one('select * from public.pdd_async'),
              rebuildShadow: shadow ? await one(`select * from ${shadow}.pdd_users`) : '',
              subscriptionError: await one(`select last_error from ${sc}.subscriptions`),
              rebuildError: await one(`select error from ${sc}.rebuilds`),
            };
          };
          const before = await places();
          expect(before.readModel).toContain('dmp.two@example.org');
          expect(before.snapshot).toContain('dmp.two@example.org');
          expect(before.asyncProjection).toContain('dmp.two@example.org');
          expect(before.rebuildShadow).toContain('dmp.two@example.org');
          expect(before.subscriptionError).toContain('dmp.one@example.org');
          expect(before.rebuildError).toContain('@example.org');

          // The whole database: pg_dump's text; on the embedded engine every file of the data directory and its backup.
          const dump = async (): Promise<Buffer> => {
            if (engine.name === 'server') {
              const pgDump = findPgClient('pg_dump', 14);
              if (pgDump === null) throw new Error('no pg_dump: run node scripts/install-pg-client-18.mjs');
              return Buffer.from((await promisify(execFile)(pgDump.path, ['--dbname', fresh!.url!], { maxBuffer: 256 * 1024 * 1024 })).stdout);
            }
            await Promise.all(runners.splice(0).map((runner) => runner.stop()));
            await s!.close();
            s = undefined;
            const file = join(dir, `backup-${randomUUID()}.tar.gz`);
            await backupEmbeddedStore(dataDir, file);
            const files = readdirSync(dataDir, { recursive: true, withFileTypes: true })
              .filter((entry) => entry.isFile())
              .map((entry) => readFileSync(join(entry.parentPath, entry.name)));
            s = await openEventStore({ dataDir });
            return Buffer.concat([gunzipSync(readFileSync(file)), ...files]);
          };
          const holds = (bytes: Buffer, needle: string | Buffer) => bytes.includes(needle);
          // The keys as pg_dump writes them (hex text) and as the data files hold them (32 raw bytes).
          const rawKeys = keys.map((key) => Buffer.from(key, 'hex'));
          const needles = [...values, ...keys, ...rawKeys];
          const dumpedBefore = await dump();
          for (const needle of [...values, ...(engine.name === 'server' ? keys : rawKeys)]) expect(holds(dumpedBefore, needle), `before forget, the dump holds ${String(needle)}`).toBe(true);

          const result = await s.forget('dmp', { reason: 'erasure request #9' });
          expect(result).toMatchObject({
            replayed: ['pdd_emails', 'pdd_fragile', 'pdd_users'],
            reset: ['pdd_async'],
            rebuildsCancelled: ['pdd_fragile', 'pdd_users'],
            externalSubscriptions: ['pdd-mailer'],
          });
          // The failed rebuild's error went with the rebuild: the subscription's is the one redacted.
          expect(result.errorsRedacted).toBe(1);
          expect(result.compacted).toEqual(expect.arrayContaining([`${sc}.subject_keys`, 'public.pdd_users', 'public.pdd_async', `${sc}_snapshots.pdd_emails`]));

          if (engine.name === 'server') {
            // The server vacuums what forget changed, once its transaction has committed.
            await waitFor(
              async () => (await s!.query(`select 1 from pg_stat_user_tables where relid = '${sc}.subject_keys'::regclass and last_vacuum is not null`)).length === 1,
              'subject_keys to be vacuumed',
            );
          }
          const after = await places();
          for (const [place, text] of Object.entries(after)) for (const value of values) expect(text, `${place} after forget`).not.toContain(value);
          expect(after.readModel).toContain('oth@example.org');
          expect(after.subscriptionError).toContain('mail to [erased] bounced');
          expect(after.rebuildShadow).toBe('');
          const dumpedAfter = await dump();
          for (const needle of needles) expect(holds(dumpedAfter, needle), `after forget, the dump holds ${String(needle)}`).toBe(false);
          // Other subjects are untouched, and so the search can find what is there.
          expect(holds(dumpedAfter, 'oth@example.org')).toBe(true);
        } finally {
          await Promise.all(runners.map((runner) => runner.stop()));
          if (engine.name === 'embedded') await s?.close();
          await fresh?.dispose();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

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
