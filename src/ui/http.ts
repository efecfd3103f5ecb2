import type { IncomingMessage, ServerResponse } from 'node:http';

/** A refusal or failure the console's API answers with a status and a readable message. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(status: number, code: string, message: string, hint?: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

/** What a route handler gets: the request, its parsed URL and the path's parameters. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

/** Returns the JSON body to send, or `undefined` when the handler wrote the response itself. */
export type RouteHandler = (context: RouteContext) => Promise<unknown> | unknown;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  keys: string[];
  handler: RouteHandler;
  /** Changes state: needs write access and the CSRF checks. */
  action: boolean;
}

/** A route for a request, or why there is none (404 or 405). */
export type RouteMatch =
  | { kind: 'found'; handler: RouteHandler; params: Record<string, string>; action: boolean }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

/** A small router: `/api/streams/:stream` style paths, GET and POST. */
export class Router {
  readonly #routes: Route[] = [];

  get(path: string, handler: RouteHandler): this {
    return this.#add('GET', path, handler, false);
  }

  /** A POST that changes state: the server checks write access and cross-site protection first. */
  action(path: string, handler: RouteHandler): this {
    return this.#add('POST', path, handler, true);
  }

  #add(method: Route['method'], path: string, handler: RouteHandler, action: boolean): this {
    const keys: string[] = [];
    const source = path
      .split('/')
      .map((part) => {
        if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        keys.push(part.slice(1));
        return '([^/]+)';
      })
      .join('/');
    this.#routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler, action });
    return this;
  }

  match(method: string, pathname: string): RouteMatch {
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const found = route.pattern.exec(pathname);
      if (!found) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.keys.forEach((key, index) => {
        try {
          params[key] = decodeURIComponent(found[index + 1] ?? '');
        } catch {
          throw new HttpError(400, 'BAD_REQUEST', `Malformed path parameter ${key}`);
        }
      });
      return { kind: 'found', handler: route.handler, params, action: route.action };
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
  }
}

/** Sends a JSON document; API answers are never cached. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * The first key that valid JSON text names twice in one object (JSON.parse keeps the last of them).
 * Every string literal and bracket is a token of the pattern, and nothing between two tokens holds a
 * quote or a bracket, so the scan sees the text's structure. (The CLI and imports check their JSON
 * text the same way, through src/import/json-text.ts, which the console may not import.)
 */
function repeatedKey(text: string): string | undefined {
  const open: (Set<string> | null)[] = [];
  for (const [token] of text.matchAll(/"(?:[^"\\]|\\.)*"\s*:?|[{}[\]]/g)) {
    if (token === '{' || token === '[') {
      open.push(token === '{' ? new Set() : null);
    } else if (token === '}' || token === ']') {
      open.pop();
    } else if (token.endsWith(':')) {
      const key = JSON.parse(token.slice(0, token.lastIndexOf('"') + 1)) as string;
      const keys = open.at(-1);
      if (keys?.has(key)) return key;
      keys?.add(key);
    }
  }
  return undefined;
}

/** Reads a small JSON object body (actions take a few options at most); a key given twice is refused. */
export async function readJsonBody(req: IncomingMessage, limit = 16 * 1024): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'BODY_TOO_LARGE', `Request body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'The request body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'BAD_REQUEST', 'The request body must be a JSON object');
  }
  const repeated = repeatedKey(text);
  if (repeated !== undefined) {
    throw new HttpError(400, 'BAD_REQUEST', `The request body names the key ${JSON.stringify(repeated.slice(0, 60))} twice in one object`, 'Give each key once.');
  }
  return value as Record<string, unknown>;
}

/** An integer query parameter within bounds, or the default when absent. */
export function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,15}$/.test(text)) throw new HttpError(400, 'BAD_REQUEST', `Query parameter ${name} must be an integer`);
  const value = Number(text);
  if (value < min || value > max) {
    throw new HttpError(400, 'BAD_REQUEST', `Query parameter ${name} must be between ${min} and ${max}, not ${value}`);
  }
  return value;
}

/** A timestamp query parameter (ISO 8601), or null when absent. */
export function timeParam(url: URL, name: string): Date | null {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return null;
  const value = new Date(text);
  if (Number.isNaN(value.getTime())) throw new HttpError(400, 'BAD_REQUEST', `Query parameter ${name} is not a time: ${JSON.stringify(text)}`);
  return value;
}
