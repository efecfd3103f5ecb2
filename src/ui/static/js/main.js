// @ts-check
// The console's shell: hash routes, the session, the sidebar and the keyboard.
import { getJson, setCsrfToken } from './api.js';
import { h, isTyping, replaceChildren } from './dom.js';
import * as erasures from './pages/erasures.js';
import * as eventPage from './pages/event.js';
import * as live from './pages/live.js';
import * as metricsPage from './pages/metrics.js';
import * as overview from './pages/overview.js';
import * as projection from './pages/projection.js';
import * as projections from './pages/projections.js';
import * as stream from './pages/stream.js';
import * as streams from './pages/streams.js';
import * as subscriptions from './pages/subscriptions.js';
import { errorNotice, showShortcuts } from './ui.js';

/**
 * @typedef {{ unmount?: () => void; onKey?: (event: KeyboardEvent) => boolean }} Mounted
 * @typedef {{ params: Record<string, string>; query: URLSearchParams; session: any }} PageContext
 * @typedef {{ title: string; mount: (root: HTMLElement, context: PageContext) => Mounted | void }} Page
 */

/** @type {{ pattern: RegExp; keys: string[]; nav: string; page: Page }[]} */
const routes = [
  { pattern: /^\/$/, keys: [], nav: 'overview', page: overview },
  { pattern: /^\/streams$/, keys: [], nav: 'streams', page: streams },
  { pattern: /^\/streams\/([^/]+)$/, keys: ['stream'], nav: 'streams', page: stream },
  { pattern: /^\/events\/(\d+)(?:\/(previous|next))?$/, keys: ['position', 'step'], nav: 'streams', page: eventPage },
  { pattern: /^\/live$/, keys: [], nav: 'live', page: live },
  { pattern: /^\/projections$/, keys: [], nav: 'projections', page: projections },
  { pattern: /^\/projections\/([^/]+)$/, keys: ['name'], nav: 'projections', page: projection },
  { pattern: /^\/subscriptions$/, keys: [], nav: 'subscriptions', page: subscriptions },
  { pattern: /^\/metrics$/, keys: [], nav: 'metrics', page: metricsPage },
  { pattern: /^\/erasures$/, keys: [], nav: 'erasures', page: erasures },
];

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
/** @type {any} */
let session = null;
/** @type {Mounted | null} */
let current = null;

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = hash.split('?');
  return { path, query: new URLSearchParams(search) };
}

function render() {
  const { path, query } = parseHash();
  current?.unmount?.();
  current = null;
  const found = routes.map((candidate) => ({ candidate, match: candidate.pattern.exec(path) })).find(({ match }) => match);
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (found && link.getAttribute('data-nav') === found.candidate.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const root = h('div', { class: 'page' });
  replaceChildren(main, root);
  if (!found || !found.match) {
    document.title = 'Not found · pgevents console';
    replaceChildren(root, h('div', { class: 'page-head' }, h('h1', {}, 'Nothing here')), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')));
    return;
  }
  /** @type {Record<string, string>} */
  const params = {};
  found.candidate.keys.forEach((key, index) => {
    const value = found.match?.[index + 1];
    if (value !== undefined) params[key] = decodeURIComponent(value);
  });
  document.title = `${found.candidate.page.title} · pgevents console`;
  try {
    current = found.candidate.page.mount(root, { params, query, session }) ?? null;
  } catch (error) {
    replaceChildren(root, errorNotice(error));
  }
}

function renderSession() {
  const info = /** @type {HTMLElement} */ (document.getElementById('session-info'));
  const row = (/** @type {string} */ label, /** @type {string | Node} */ value) =>
    h('div', { class: 'row' }, h('span', {}, label), h('span', { class: 'value' }, value));
  replaceChildren(
    info,
    row('engine', session.engine),
    row('schema', `${session.schema} (v${session.schemaVersion})`),
    row('role', session.role),
    session.readOnly ? h('span', { class: 'badge warn', title: 'The connected role may not rebuild, refresh or reset: actions are disabled' }, 'read-only') : null,
    h('div', { class: 'faint' }, `pgevents ${session.version}`),
  );
  if (session.readOnly) document.body.classList.add('read-only');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function setUpSearch() {
  const form = /** @type {HTMLFormElement} */ (document.getElementById('global-search'));
  const input = /** @type {HTMLInputElement} */ (document.getElementById('global-search-input'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (UUID.test(text)) location.hash = `#/streams/${text.toLowerCase()}`;
    else location.hash = `#/streams${text ? `?q=${encodeURIComponent(text)}` : ''}`;
    input.blur();
  });
}

let pendingG = false;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let pendingTimer;
const goKeys = /** @type {Record<string, string>} */ ({ o: '#/', s: '#/streams', l: '#/live', p: '#/projections', u: '#/subscriptions', m: '#/metrics', e: '#/erasures' });

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && isTyping(event)) {
    /** @type {HTMLElement} */ (event.target).blur();
    return;
  }
  if (isTyping(event) || event.metaKey || event.ctrlKey || event.altKey) return;
  if (document.querySelector('dialog[open]')) return;
  if (pendingG) {
    pendingG = false;
    clearTimeout(pendingTimer);
    const target = goKeys[event.key];
    if (target) {
      event.preventDefault();
      location.hash = target;
      return;
    }
  }
  if (event.key === '/') {
    event.preventDefault();
    /** @type {HTMLInputElement} */ (document.getElementById('global-search-input')).focus();
    return;
  }
  if (event.key === '?') {
    event.preventDefault();
    showShortcuts();
    return;
  }
  if (event.key === 'g') {
    pendingG = true;
    pendingTimer = setTimeout(() => (pendingG = false), 1200);
    return;
  }
  if (current?.onKey?.(event)) event.preventDefault();
});

async function start() {
  setUpSearch();
  /** @type {HTMLElement} */ (document.getElementById('shortcuts-button')).addEventListener('click', showShortcuts);
  try {
    session = await getJson('/session');
  } catch (error) {
    replaceChildren(main, errorNotice(error));
    return;
  }
  setCsrfToken(session.csrfToken);
  renderSession();
  window.addEventListener('hashchange', () => {
    render();
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  });
  render();
  document.body.dataset.ready = 'true';
}

void start();
