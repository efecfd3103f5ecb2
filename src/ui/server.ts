import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type EventStore,
  InvalidArgumentError,
  PgEventsError,
  ProjectionHandlerError,
  prometheusText,
  ReplayRefusedError,
  UnknownProjectionError,
} from '../index.js';
import { streamLive } from './api/live.js';
import { overview } from './api/overview.js';
import { listProjectionDetails, projectionDetails, readModelRows } from './api/projections.js';
import { eventAt, eventTypes, listErasureRecords, searchStreams, streamPage } from './api/streams.js';
import { type ConsoleFeatures, detectFeatures, type Permissions, readPermissions } from './features.js';
import { HttpError, Router, readJsonBody, sendJson } from './http.js';
import { JobBoard, type JobInfo } from './jobs.js';
import { ConsoleGuard, resolveToken } from './security.js';

/** Where and how the console listens. */
export interface StartConsoleOptions {
  /** Interface to listen on, default `127.0.0.1`. Any other than loopback requires a token. */
  host?: string;
  /** Port, default 4000; 0 picks a free one. */
  port?: number;
  /** Access token every request must carry; generated when binding to a non-loopback host without one. */
  token?: string;
  /** How often the live feed looks for new events, default 500 ms. */
  pollMs?: number;
  /** Where unexpected request errors are written, default stderr. */
  log?: (line: string) => void;
}

/** A running console. */
export interface ConsoleServer {
  /** The console's address, e.g. `http://127.0.0.1:4000/`. */
  url: string;
  /** The address to open: with `?token=…` when a token is required. */
  openUrl: string;
  host: string;
  port: number;
  /** The access token, or null on loopback without one. */
  token: string | null;
  /** Whether the token was generated (and so must be shown to the user). */
  tokenGenerated: boolean;
  /** Stops listening, ends live feeds, and waits for running actions. Does not close the store. */
  close(): Promise<void>;
}

// The front end ships as files: src/ui/static is two levels below the package root, both from
// src/ui (tests, tsx) and from dist/ui (the built package).
const STATIC_DIR = fileURLToPath(new URL('../../src/ui/static/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Files anyone may load: what the "token required" page itself needs. */
const PUBLIC_FILES = new Set(['/login.css', '/favicon.svg']);

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

interface StaticFile {
  body: Buffer;
  type: string;
}

function loadStaticFiles(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const type = CONTENT_TYPES[entry.name.slice(entry.name.lastIndexOf('.'))];
        if (type) files.set(`/${relative(STATIC_DIR, path).split(sep).join('/')}`, { body: readFileSync(path), type });
      }
    }
  };
  walk(STATIC_DIR);
  return files;
}

/** Refusals of an action in the store's present state (a rebuild in progress, a subscription that has not failed, …). */
const CONFLICT_CODES = /^(REBUILD_|SUBSCRIPTION_STATE|SUBSCRIPTION_IN_USE|SWAP_)/;

/** The page, status and hint an error turns into. */
export function describeFailure(error: unknown): { status: number; code: string; message: string; hint?: string } {
  if (error instanceof HttpError) {
    return { status: error.status, code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  if (error instanceof PgEventsError) {
    // By class where this version has it, by stable code for the rest.
    const status =
      error instanceof UnknownProjectionError || /^UNKNOWN_/.test(error.code)
        ? 404
        : error instanceof InvalidArgumentError
          ? 400
          : error instanceof ReplayRefusedError || error instanceof ProjectionHandlerError || CONFLICT_CODES.test(error.code)
            ? 409
            : 500;
    return { status, code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === '42501') return { status: 403, code: 'PERMISSION_DENIED', message };
  return { status: 500, code: typeof code === 'string' ? code : 'INTERNAL', message };
}

function describeForJob(error: unknown): JobInfo['error'] {
  const { code, message, hint } = describeFailure(error);
  return { code, message, ...(hint ? { hint } : {}) };
}

function refuseWithoutPermission(allowed: boolean, what: string, permissions: Permissions): void {
  if (!allowed) {
    throw new HttpError(
      403,
      'READ_ONLY',
      `Role ${permissions.role} may not ${what}`,
      'The console is connected with a role that can only read; connect as the store owner to act.',
    );
  }
}

function notAvailable(feature: { available: boolean; missing: string | null }): void {
  if (!feature.available) throw new HttpError(501, 'NOT_AVAILABLE', `Not available in this version: ${feature.missing}`);
}

function buildRouter(store: EventStore, guard: ConsoleGuard, jobs: JobBoard, features: ConsoleFeatures, version: string, pollMs: number) {
  const router = new Router();

  router.get('/api/session', async () => {
    const permissions = await readPermissions(store, features);
    return {
      version,
      engine: store.engine,
      schema: store.schema,
      schemaVersion: await store.schemaVersion(),
      role: permissions.role,
      permissions,
      readOnly: !(permissions.rebuild || permissions.refresh || permissions.verify || permissions.subscriptions),
      features: {
        rebuild: { available: features.rebuild.available, missing: features.rebuild.missing },
        verify: { available: features.verify.available, missing: features.verify.missing },
        refresh: { available: features.refresh.available, missing: features.refresh.missing },
        subscriptions: { available: features.subscriptions.available, missing: features.subscriptions.missing },
      },
      csrfToken: guard.csrfToken,
      tokenRequired: guard.token !== null,
    };
  });
  router.get('/api/overview', () => overview(store, jobs, features));
  router.get('/api/event-types', () => eventTypes(store));
  router.get('/api/metrics', async () => ({ families: await store.metrics() }));
  router.get('/api/streams', ({ url }) => searchStreams(store, url));
  router.get('/api/streams/:stream', ({ params, url }) => streamPage(store, params.stream ?? '', url));
  router.get('/api/events/:position', ({ params }) => eventAt(store, params.position ?? ''));
  router.get('/api/erasures', ({ url }) => listErasureRecords(store, url));
  router.get('/api/live', async ({ req, res, url }) => {
    await streamLive(store, req, res, url, { pollMs, keepAliveMs: 15_000, describe: describeFailure });
    return undefined;
  });
  router.get('/api/projections', () => listProjectionDetails(store, jobs));
  router.get('/api/projections/:name', ({ params }) => projectionDetails(store, params.name ?? '', jobs));
  router.get('/api/projections/:name/rows', ({ params, url }) => readModelRows(store, params.name ?? '', url));
  router.get('/api/jobs', () => jobs.list());
  router.get('/api/jobs/:id', ({ params }) => {
    const job = jobs.get(params.id ?? '');
    if (!job) throw new HttpError(404, 'UNKNOWN_JOB', `Unknown job: ${params.id}`);
    return job;
  });
  router.get('/api/subscriptions', async () => {
    const feature = features.subscriptions;
    if (!feature.available || !feature.list) return { available: false, missing: feature.missing, subscriptions: [] };
    return { available: true, missing: null, subscriptions: await feature.list() };
  });

  const projectionOf = async (name: string) => {
    const projection = (await store.listProjections()).find((candidate) => candidate.name === name);
    if (!projection) throw new HttpError(404, 'UNKNOWN_PROJECTION', `Unknown projection: ${name}`);
    return projection;
  };

  router.action('/api/projections/:name/rebuild', async ({ params, res }) => {
    const name = params.name ?? '';
    notAvailable(features.rebuild);
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.rebuild, `rebuild ${name}`, permissions);
    const projection = await projectionOf(name);
    if (projection.kind !== 'trigger') {
      throw new HttpError(409, 'WRONG_KIND', `${name} is a materialized view: refresh it instead of rebuilding it`);
    }
    res.statusCode = 202;
    return jobs.start('rebuild', name, (report) => features.rebuild.run(name, report));
  });
  router.action('/api/projections/:name/cancel-rebuild', async ({ params }) => {
    const name = params.name ?? '';
    notAvailable(features.rebuild);
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.rebuild, `cancel the rebuild of ${name}`, permissions);
    const projection = await projectionOf(name);
    if (projection.kind !== 'trigger') throw new HttpError(409, 'WRONG_KIND', `${name} is a materialized view: it has no rebuild to cancel`);
    // A rebuild this console runs stops after its current batch; then its shadow tables are dropped.
    const job = await jobs.cancel(name);
    const cancelled = await features.rebuild.cancel(name);
    if (!cancelled && !job) throw new HttpError(409, 'NOT_RUNNING', `No rebuild of ${name} is in progress`, 'Nothing to cancel.');
    // cancelled false with a job: the job had swapped its tables in already (the rebuild finished).
    return { projection: name, cancelled, job: job?.id ?? null };
  });
  router.action('/api/projections/:name/verify', async ({ params, res }) => {
    const name = params.name ?? '';
    notAvailable(features.verify);
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.verify, `verify ${name}`, permissions);
    const projection = await projectionOf(name);
    if (projection.kind !== 'trigger') {
      throw new HttpError(409, 'WRONG_KIND', `${name} is a materialized view: refresh it; only trigger projections are verified`);
    }
    res.statusCode = 202;
    return jobs.start('verify', name, (report) => features.verify.run(name, report));
  });
  router.action('/api/projections/:name/refresh', async ({ params, res }) => {
    const name = params.name ?? '';
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.refresh, `refresh ${name}`, permissions);
    const projection = await projectionOf(name);
    if (projection.kind !== 'materialized_view') {
      throw new HttpError(409, 'WRONG_KIND', `${name} is a trigger projection: it is always up to date; rebuild it instead`);
    }
    res.statusCode = 202;
    return jobs.start('refresh', name, () => features.refresh.run(name));
  });
  router.action('/api/subscriptions/:name/reset', async ({ params, req }) => {
    const name = params.name ?? '';
    notAvailable(features.subscriptions);
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.subscriptions, `reset subscription ${name}`, permissions);
    const body = await readJsonBody(req);
    const to = body.to ?? 'start';
    if (to !== 'start' && to !== 'end') throw new HttpError(400, 'BAD_REQUEST', `Reset a subscription to "start" or "end", not ${JSON.stringify(to)}`);
    return features.subscriptions.reset!(name, to);
  });
  router.action('/api/subscriptions/:name/skip', async ({ params }) => {
    const name = params.name ?? '';
    notAvailable(features.subscriptions);
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.subscriptions, `skip an event of subscription ${name}`, permissions);
    return features.subscriptions.skip!(name);
  });
  router.action('/api/subscriptions/:name/resume', async ({ params }) => {
    const name = params.name ?? '';
    notAvailable(features.subscriptions);
    const permissions = await readPermissions(store, features);
    refuseWithoutPermission(permissions.subscriptions, `resume subscription ${name}`, permissions);
    return features.subscriptions.resume!(name);
  });
  return router;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '';
  } catch {
    return '';
  }
}

/**
 * Serves the pgevents console for an open store: the page, its JSON API under `/api/`, and the
 * live feed. On the embedded engine the console shares the store (its one connection) with the
 * caller. The console runs no SQL of its own: it reads and acts through the store's API.
 * @throws {InvalidArgumentError} for a token that is too short.
 * @example
 * const store = await openEventStore();
 * const ui = await startConsole(store, { port: 4000 });
 * process.stdout.write(`pgevents console at ${ui.openUrl}\n`);
 */
export async function startConsole(store: EventStore, options: StartConsoleOptions = {}): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  const { token, generated } = resolveToken(host, options.token);
  const guard = new ConsoleGuard({ host, token });
  const jobs = new JobBoard(describeForJob);
  const features = detectFeatures(store);
  const files = loadStaticFiles();
  const router = buildRouter(store, guard, jobs, features, packageVersion(), options.pollMs ?? 500);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const open = new Set<ServerResponse>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const isApi = url.pathname === '/api' || url.pathname.startsWith('/api/');
    try {
      guard.checkHost(req);
      if (!PUBLIC_FILES.has(url.pathname)) {
        const auth = guard.authenticate(req, url);
        if (auth.kind === 'set-cookie') {
          res.writeHead(303, { 'set-cookie': auth.cookie, location: auth.location, 'cache-control': 'no-store' });
          res.end();
          return;
        }
        if (auth.kind === 'refused') {
          if (isApi) {
            throw new HttpError(401, 'TOKEN_REQUIRED', 'This console requires its access token', 'Open the URL the console printed at start, with ?token=…');
          }
          const page = files.get('/token-required.html');
          res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          res.end(page?.body ?? 'This console requires its access token.');
          return;
        }
      }
      if (isApi) {
        const match = router.match(req.method ?? 'GET', url.pathname);
        if (match.kind === 'not-found') throw new HttpError(404, 'NOT_FOUND', `No such API: ${req.method} ${url.pathname}`);
        if (match.kind === 'method-not-allowed') {
          res.setHeader('allow', match.allowed.join(', '));
          throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
        }
        if (match.action) guard.checkAction(req);
        open.add(res);
        res.on('close', () => open.delete(res));
        const body = await match.handler({ req, res, url, params: match.params });
        if (body !== undefined && !res.headersSent) sendJson(res, res.statusCode, body);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here`);
      if (url.pathname === '/metrics') {
        // Prometheus scrapes it: the text format; behind the token, which a scraper sends as a Bearer token.
        const text = prometheusText(await store.metrics());
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      const file = files.get(url.pathname === '/' ? '/index.html' : url.pathname);
      if (!file) throw new HttpError(404, 'NOT_FOUND', `Not found: ${url.pathname}`);
      res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : file.body);
    } catch (error) {
      const failure = describeFailure(error);
      if (failure.status >= 500) log(`pgevents console: ${req.method} ${url.pathname}: ${failure.message}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      const { status, ...described } = failure;
      if (isApi || status !== 404) sendJson(res, status, { error: described });
      else {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Not found');
      }
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 4000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  guard.setPort(port);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  return {
    url,
    openUrl: token ? `${url}?token=${encodeURIComponent(token)}` : url,
    host,
    port,
    token,
    tokenGenerated: generated,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const res of open) res.end();
      server.closeAllConnections();
      await jobs.settled();
      await closed;
    },
  };
}
