import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '../index.js';
import { HttpError } from './http.js';

/** Header that state-changing requests carry: the per-process CSRF token from `/api/session`. */
export const CSRF_HEADER = 'x-pgevents-csrf';
/** Header that carries the access token (scripts); browsers use the cookie set from `?token=`. */
export const TOKEN_HEADER = 'x-pgevents-token';

const MIN_TOKEN_LENGTH = 16;

/** Whether binding to this host keeps the console on this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * The access token the console requires: the one given, a fresh one when bound to a
 * non-loopback host without one, or none on loopback.
 * @throws {InvalidArgumentError} for a token that is too short to protect anything.
 */
export function resolveToken(host: string, token: string | undefined): { token: string | null; generated: boolean } {
  if (token !== undefined) {
    // Letters, digits and - . _ ~ + / = only: the token travels in a cookie and a URL.
    if (token.length < MIN_TOKEN_LENGTH || !/^[A-Za-z0-9._~+/=-]+$/.test(token)) {
      throw new InvalidArgumentError('token', `The console token must be at least ${MIN_TOKEN_LENGTH} characters of letters, digits and - . _ ~ + / =`, {
        hint: 'Leave --token out and the console generates one when it binds to a non-loopback host.',
      });
    }
    return { token, generated: false };
  }
  if (isLoopbackHost(host)) return { token: null, generated: false };
  return { token: randomBytes(24).toString('base64url'), generated: true };
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  // Hash first so that the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (header(req, 'cookie') ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** What authenticate decided for one request. */
export type Authentication = { kind: 'ok' } | { kind: 'set-cookie'; cookie: string; location: string } | { kind: 'refused' };

/**
 * The console's request checks: Host (against DNS rebinding, on loopback), the access token (when
 * one is configured) and, for actions, cross-site request protection.
 */
export class ConsoleGuard {
  readonly token: string | null;
  /** Per-process secret that the page reads from `/api/session` and sends back on every action. */
  readonly csrfToken = randomBytes(24).toString('base64url');
  readonly #loopback: boolean;
  readonly #host: string;
  #port = 0;

  constructor(options: { host: string; token: string | null }) {
    this.token = options.token;
    this.#host = options.host;
    this.#loopback = isLoopbackHost(options.host);
  }

  /** The port is known once the server listens (it may have been 0). */
  setPort(port: number): void {
    this.#port = port;
  }

  get cookieName(): string {
    return `pgevents_console_${this.#port}`;
  }

  /**
   * On loopback, only requests addressed to a loopback name are served: a page on another site
   * that rebinds its own name to 127.0.0.1 sends its own name as Host and is refused.
   * @throws {HttpError} 421 for any other Host.
   */
  checkHost(req: IncomingMessage): void {
    if (!this.#loopback) return;
    const host = (header(req, 'host') ?? '').toLowerCase();
    const allowed = new Set(
      ['127.0.0.1', 'localhost', '[::1]', this.#host.includes(':') ? `[${this.#host}]` : this.#host].map(
        (name) => `${name}:${this.#port}`,
      ),
    );
    if (!allowed.has(host)) {
      throw new HttpError(421, 'WRONG_HOST', `This console answers only to ${[...allowed][0]}, not to Host ${JSON.stringify(host)}`);
    }
  }

  /** Checks the access token: a header, the cookie, or `?token=` on a page load (which sets the cookie). */
  authenticate(req: IncomingMessage, url: URL): Authentication {
    if (this.token === null) return { kind: 'ok' };
    const bearer = /^Bearer\s+(.+)$/i.exec(header(req, 'authorization') ?? '')?.[1];
    if (sameSecret(header(req, TOKEN_HEADER) ?? bearer ?? cookie(req, this.cookieName), this.token)) return { kind: 'ok' };
    const fromQuery = url.searchParams.get('token');
    if (req.method === 'GET' && fromQuery !== null && sameSecret(fromQuery, this.token)) {
      const clean = new URL(url);
      clean.searchParams.delete('token');
      return {
        kind: 'set-cookie',
        cookie: `${this.cookieName}=${this.token}; Path=/; HttpOnly; SameSite=Strict`,
        location: `${clean.pathname}${clean.search}`,
      };
    }
    return { kind: 'refused' };
  }

  /**
   * Cross-site protection for actions: the custom CSRF header (which no cross-site form can send
   * and no cross-site script may send without a CORS preflight this server never grants), a JSON
   * content type, and an Origin, when the browser sends one, equal to this console's.
   * @throws {HttpError} 403 when a check fails.
   */
  checkAction(req: IncomingMessage): void {
    const csrf = header(req, CSRF_HEADER);
    const token = header(req, TOKEN_HEADER);
    if (!sameSecret(csrf, this.csrfToken) && !(this.token !== null && sameSecret(token, this.token))) {
      throw new HttpError(403, 'CSRF', `Actions need the ${CSRF_HEADER} header from /api/session`, 'Reload the console page.');
    }
    const origin = header(req, 'origin');
    if (origin !== undefined && origin !== `http://${header(req, 'host') ?? ''}`) {
      throw new HttpError(403, 'CSRF', `Cross-site action refused (Origin ${JSON.stringify(origin)})`);
    }
    const site = header(req, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new HttpError(403, 'CSRF', `Cross-site action refused (Sec-Fetch-Site ${site})`);
    }
    const type = header(req, 'content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) {
      throw new HttpError(415, 'CONTENT_TYPE', 'Actions take a JSON body (content-type: application/json)');
    }
  }
}
