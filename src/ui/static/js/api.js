// @ts-check
// The console's JSON API. Actions are POSTs that carry the CSRF header the server handed out.

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ code?: string; message?: string; hint?: string }} body
   */
  constructor(status, body) {
    super(body.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body.code ?? 'HTTP';
    this.hint = body.hint;
  }
}

/** @type {string | null} */
let csrfToken = null;

/** @param {string} token */
export function setCsrfToken(token) {
  csrfToken = token;
}

/**
 * @param {Response} response
 * @returns {Promise<any>}
 */
async function parse(response) {
  const text = await response.text();
  /** @type {any} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new ApiError(response.status, body?.error ?? {});
  return body;
}

/**
 * @param {string} path
 * @param {Record<string, string | number | null | undefined>} [query]
 * @param {AbortSignal} [signal]
 */
export async function getJson(path, query = {}, signal) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== null && value !== undefined && value !== '') params.set(name, String(value));
  const search = params.toString();
  const response = await fetch(`/api${path}${search ? `?${search}` : ''}`, { headers: { accept: 'application/json' }, signal });
  return parse(response);
}

/**
 * @param {string} path
 * @param {Record<string, unknown>} body
 */
async function post(path, body) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (csrfToken) headers['x-pgevents-csrf'] = csrfToken;
  const response = await fetch(`/api${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return parse(response);
}

/**
 * Runs an action. A console that restarted hands out a new CSRF token: on that refusal the page
 * fetches the new one and tries once more.
 * @param {string} path
 * @param {Record<string, unknown>} [body]
 */
export async function postAction(path, body = {}) {
  try {
    return await post(path, body);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 403 && error.code === 'CSRF')) throw error;
    const session = await getJson('/session');
    csrfToken = session.csrfToken;
    return post(path, body);
  }
}
