import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { type ConsoleServer, startConsole } from '../../src/ui/index.js';
import { resolveToken } from '../../src/ui/security.js';
import { embedded, type TestStore } from '../support/engines.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request, so that tests can send any Host, Origin or Sec-Fetch-Site header. */
function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function errorCode(answer: Answer): string {
  return (JSON.parse(answer.body) as { error: { code: string } }).error.code;
}

/**
 * Reads server-sent events from the live feed until `count` append events arrived. `ready` settles
 * once the feed has sent its `ready` event, that is once it has fixed where it starts: an event
 * appended after that is in the feed. A hung feed is cut off after a generous deadline (a safety
 * net), and the appends read by then are returned.
 */
function readAppends(
  url: string,
  count: number,
  headers: Record<string, string> = {},
): { ready: Promise<void>; appends: Promise<{ id: string; position: number }[]> } {
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const appends = (async () => {
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(), 60_000);
    const received: { id: string; position: number }[] = [];
    try {
      const response = await fetch(url, { headers, signal: controller.signal });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (received.length < count) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
          if (fields.event === 'ready') markReady();
          if (fields.event === 'append') received.push({ id: fields.id ?? '', position: (JSON.parse(fields.data ?? '{}') as { position: number }).position });
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      clearTimeout(deadline);
      controller.abort();
      markReady();
    }
    return received;
  })();
  return { ready, appends };
}

describe('the console over HTTP (embedded)', () => {
  let t: TestStore;
  let store: EventStore;
  let server: ConsoleServer;
  let csrf: string;

  beforeAll(async () => {
    t = await embedded.createStore();
    store = t.store;
    server = await startConsole(store, { port: 0, pollMs: 50, log: () => undefined });
    csrf = (JSON.parse((await request(`${server.url}api/session`)).body) as { csrfToken: string }).csrfToken;
  });
  afterAll(async () => {
    await server?.close();
    await t?.dispose();
  });

  it('answers only to loopback host names, against DNS rebinding', async () => {
    expect((await request(`${server.url}api/session`, { headers: { host: `localhost:${server.port}` } })).status).toBe(200);
    const rebound = await request(`${server.url}api/session`, { headers: { host: `attacker.example:${server.port}` } });
    expect(rebound.status).toBe(421);
    expect(errorCode(rebound)).toBe('WRONG_HOST');
  });

  it('refuses actions without the CSRF header, from another origin, or from another site', async () => {
    const action = `${server.url}api/projections/nothing/rebuild`;
    const json = { 'content-type': 'application/json' };
    const missing = await request(action, { method: 'POST', headers: json, body: '{}' });
    expect([missing.status, errorCode(missing)]).toEqual([403, 'CSRF']);
    const otherOrigin = await request(action, { method: 'POST', headers: { ...json, 'x-pgevents-csrf': csrf, origin: 'http://attacker.example' }, body: '{}' });
    expect([otherOrigin.status, errorCode(otherOrigin)]).toEqual([403, 'CSRF']);
    const crossSite = await request(action, { method: 'POST', headers: { ...json, 'x-pgevents-csrf': csrf, 'sec-fetch-site': 'cross-site' }, body: '{}' });
    expect([crossSite.status, errorCode(crossSite)]).toEqual([403, 'CSRF']);
    const form = await request(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-pgevents-csrf': csrf }, body: 'a=1' });
    expect(form.status).toBe(415);
    const allowed = await request(action, { method: 'POST', headers: { ...json, 'x-pgevents-csrf': csrf, origin: server.url.replace(/\/$/, '') }, body: '{}' });
    expect([allowed.status, errorCode(allowed)]).toEqual([404, 'UNKNOWN_PROJECTION']);
    expect((await request(action)).status).toBe(405);
  });

  it('sends a content security policy that allows only its own files, and serves nothing else', async () => {
    const page = await request(server.url);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect((await request(`${server.url}js/main.js`)).headers['content-type']).toMatch(/^text\/javascript/);
    for (const path of ['../package.json', '%2e%2e/package.json', 'js/../../server.ts', 'server.ts']) {
      expect((await request(`${server.url}${path}`)).status).toBe(404);
    }
    const unknown = await request(`${server.url}api/nothing`);
    expect([unknown.status, errorCode(unknown)]).toEqual([404, 'NOT_FOUND']);
  });

  it('searches streams by uuid prefix, event type and time range, a page at a time', async () => {
    const streams = [randomUUID(), randomUUID(), randomUUID()];
    for (const stream of streams) await store.append(stream, [{ type: 'search_test', body: {} }, { type: 'search_other', body: {} }]);
    const search = async (query: string) =>
      JSON.parse((await request(`${server.url}api/streams?${query}`)).body) as { streams: { stream: string; version: number; matching: number }[]; hasMore: boolean };
    const first = await search('type=search_test&limit=2');
    expect(first.streams.map((item) => item.stream)).toEqual([streams[2], streams[1]]);
    expect(first.hasMore).toBe(true);
    expect(first.streams[0]).toMatchObject({ version: 2, matching: 1 });
    const second = await search('type=search_test&limit=2&offset=2');
    expect(second.streams.map((item) => item.stream)).toEqual([streams[0]]);
    expect(second.hasMore).toBe(false);
    expect((await search(`q=${streams[1]!.slice(0, 13)}`)).streams.map((item) => item.stream)).toEqual([streams[1]]);
    expect((await search(`q=${streams[1]!.replace(/-/g, '').slice(0, 12).toUpperCase()}`)).streams.map((item) => item.stream)).toEqual([streams[1]]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await search(`type=search_test&from=${encodeURIComponent(future)}`)).streams).toEqual([]);
    expect((await search(`type=search_test&to=${encodeURIComponent(future)}`)).streams).toHaveLength(3);
    expect((await request(`${server.url}api/streams?q=not-a-uuid`)).status).toBe(400);
  });

  it("gives a stream's lifecycle state with its page: an archived stream's events too, a truncated one's from its first version", async () => {
    const stream = randomUUID();
    await store.append(stream, [{ type: 'lifecycle_test', body: {} }, { type: 'lifecycle_test', body: {} }, { type: 'lifecycle_test', body: {} }]);
    const page = async () =>
      JSON.parse((await request(`${server.url}api/streams/${stream}`)).body) as {
        state: string; version: number; eventCount: number; firstVersion: number; lastChange: { operation: string; reason: string } | null;
        events: { version: number }[];
      };
    expect(await page()).toMatchObject({ state: 'live', version: 3, eventCount: 3, firstVersion: 1, lastChange: null });
    await store.archiveStream(stream, { reason: 'console test' });
    const archived = await page();
    expect(archived).toMatchObject({ state: 'archived', lastChange: { operation: 'archive', reason: 'console test' } });
    expect(archived.events.map((event) => event.version)).toEqual([1, 2, 3]);
    await store.truncateStreamBefore(stream, 3, { reason: 'console test', withoutSnapshot: true });
    await store.unarchiveStream(stream, { reason: 'console test' });
    await store.tombstoneStream(stream, { reason: 'console test' });
    const tombstoned = await page();
    expect(tombstoned).toMatchObject({ state: 'tombstoned', version: 3, eventCount: 1, firstVersion: 3 });
    expect(tombstoned.events.map((event) => event.version)).toEqual([3]);
  });

  it('streams appended events with their cursors and resumes after Last-Event-ID', async () => {
    const stream = randomUUID();
    const firstRead = readAppends(`${server.url}api/live?backlog=0`, 1);
    // The feed starts at the end of the log: append once it has said where that is.
    await firstRead.ready;
    const first = await store.append(stream, [{ type: 'http_test', body: { n: 1 } }]);
    const [received] = await firstRead.appends;
    expect(received?.position).toBe(first.events[0]!.position);
    const second = await store.append(stream, [{ type: 'http_test', body: { n: 2 } }, { type: 'http_test', body: { n: 3 } }]);
    const resumed = await readAppends(`${server.url}api/live`, 2, { 'last-event-id': received!.id }).appends;
    expect(resumed.map((event) => event.position)).toEqual(second.events.map((event) => event.position));
    const bad = await request(`${server.url}api/live?after=nonsense`);
    expect(bad.status).toBe(400);
  });

  it('requires a token when bound to a non-loopback host: a generated one, or one given', async () => {
    expect(resolveToken('127.0.0.1', undefined)).toEqual({ token: null, generated: false });
    expect(resolveToken('::1', undefined).token).toBeNull();
    const generated = resolveToken('0.0.0.0', undefined);
    expect(generated.generated).toBe(true);
    expect(generated.token!.length).toBeGreaterThanOrEqual(32);
    expect(() => resolveToken('0.0.0.0', 'short')).toThrow(/at least 16/);

    const open = await startConsole(store, { host: '0.0.0.0', port: 0, log: () => undefined });
    try {
      expect(open.tokenGenerated).toBe(true);
      const local = `http://127.0.0.1:${open.port}/`;
      expect((await request(`${local}api/session`)).status).toBe(401);
      expect((await request(local)).status).toBe(401);
      expect((await request(`${local}api/session`, { headers: { authorization: `Bearer ${open.token}` } })).status).toBe(200);
      const login = await request(`${local}streams?token=${encodeURIComponent(open.token!)}`);
      expect(login.status).toBe(303);
      expect(login.headers.location).toBe('/streams');
      const cookie = String(login.headers['set-cookie']);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect((await request(`${local}api/session`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('pgevents ui', { timeout: 180_000 }, () => {
  it('prints the URL, serves the console on the embedded engine until interrupted, and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgevents-ui-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--data-dir', join(dir, 'data'), 'ui', '--port', '0'], {
      cwd: new URL('../../', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        // A fresh data dir is migrated first: seconds on an idle machine, more on a loaded one.
        const timer = setTimeout(() => reject(new Error(`no URL printed within 120 s: ${output}`)), 120_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const found = /http:\/\/127\.0\.0\.1:\d+\//.exec(output);
          if (found) {
            clearTimeout(timer);
            resolve(found[0]);
          }
        });
        child.on('exit', (code) => reject(new Error(`pgevents ui exited with ${code}: ${output}`)));
      });
      const session = JSON.parse((await request(`${url}api/session`)).body) as { engine: string; readOnly: boolean };
      expect(session).toMatchObject({ engine: 'embedded', readOnly: false });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
