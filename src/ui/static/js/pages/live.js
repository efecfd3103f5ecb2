// @ts-check
import { getJson } from '../api.js';
import { formatClock, formatNumber, h, replaceChildren, shortStream } from '../dom.js';
import { jsonPreview, jsonView } from '../json-view.js';
import { emptyState } from '../ui.js';

export const title = 'Live feed';

const KEEP = 500;
const BACKLOG = 25;

/**
 * Orders cursors "<transaction id>-<position>" in the gap-safe order.
 * @param {string} cursor
 * @returns {[bigint, bigint]}
 */
function cursorKey(cursor) {
  const [transaction = '0', position = '0'] = cursor.split('-');
  return [BigInt(transaction), BigInt(position)];
}

/**
 * @param {string} a
 * @param {string} b
 */
function cursorAfter(a, b) {
  const [ta, pa] = cursorKey(a);
  const [tb, pb] = cursorKey(b);
  return ta > tb || (ta === tb && pa > pb);
}

/**
 * New events as they are appended, over server-sent events. Each event carries its cursor; after a
 * lost connection the feed reconnects from the last cursor it received, so nothing is missed or
 * shown twice.
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} _context
 */
export function mount(root, _context) {
  /** @type {EventSource | null} */
  let source = null;
  /** @type {string | null} */
  let lastCursor = null;
  let paused = false;
  /** @type {any[]} */
  let buffered = [];
  let received = 0;
  let attempts = 0;
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retryTimer;
  const types = new Set();

  const pulse = h('span', { class: 'pulse' });
  const statusText = h('span', {}, 'Connecting…');
  const status = h('span', { class: 'live-status', 'data-live-status': 'connecting' }, pulse, statusText);
  const count = h('span', { class: 'muted', 'data-received': '0' }, '0 events received');
  const heldNote = h('span', { class: 'buffer-note', 'data-held': '', hidden: true, title: 'Committed, but a transaction that began before theirs is still open somewhere in the cluster: the gap-safe feed shows them as soon as it ends.' });
  const filter = h('select', { 'aria-label': 'Show events of type', 'data-filter': '' }, h('option', { value: '' }, 'all types'));
  const pauseButton = h('button', { type: 'button', class: 'button', 'data-pause': '', title: 'Pause or resume (p)' }, 'Pause');
  const clearButton = h('button', { type: 'button', class: 'button ghost' }, 'Clear');
  const list = h('ul', { class: 'feed', 'data-feed': '' });
  const empty = emptyState('Waiting for events', 'New events appear here as they are appended.');
  const body = h('div', { class: 'panel' }, empty, list);

  const setStatus = (/** @type {'connecting' | 'connected' | 'paused' | 'reconnecting'} */ value, /** @type {string} */ text) => {
    status.dataset.liveStatus = value;
    pulse.className = `pulse ${value}`;
    statusText.textContent = text;
  };

  const addType = (/** @type {string} */ type) => {
    if (types.has(type)) return;
    types.add(type);
    const options = [...filter.options].slice(1);
    const before = options.find((option) => option.value > type) ?? null;
    filter.insertBefore(h('option', { value: type }, type), before);
  };

  const applyFilter = () => {
    for (const item of list.children) {
      const li = /** @type {HTMLElement} */ (item);
      li.hidden = filter.value !== '' && li.dataset.type !== filter.value;
    }
  };

  const render = (/** @type {any} */ event, /** @type {boolean} */ fresh) => {
    const detail = h('div', { class: 'feed-detail', hidden: true });
    const row = h(
      'button',
      { type: 'button', class: 'feed-row', 'aria-expanded': 'false' },
      h('span', { class: 'time', title: event.insertedAt }, formatClock(event.insertedAt)),
      h('span', {}, h('span', { class: 'chip' }, event.type)),
      h('span', { class: 'stream mono', title: event.stream }, shortStream(event.stream)),
      h('span', { class: 'ver version' }, `v${event.version}`),
      h('span', { class: 'pos' }, `#${event.position}`),
      h('span', { class: 'preview' }, jsonPreview(event.body)),
    );
    row.addEventListener('click', () => {
      const open = detail.hidden;
      detail.hidden = !open;
      row.setAttribute('aria-expanded', String(open));
      if (open && detail.childElementCount === 0) {
        detail.append(
          h(
            'div',
            { class: 'toolbar' },
            h('a', { href: `#/events/${event.position}` }, `open event #${event.position}`),
            h('a', { class: 'mono', href: `#/streams/${event.stream}` }, `stream ${event.stream}`),
          ),
          jsonView(event.body, { label: 'Body' }),
        );
      }
    });
    const item = h('li', { class: fresh ? 'fresh' : '', 'data-position': event.position, 'data-type': event.type, 'data-stream': event.stream }, row, detail);
    item.hidden = filter.value !== '' && event.type !== filter.value;
    list.prepend(item);
    while (list.childElementCount > KEEP) list.lastElementChild?.remove();
    empty.hidden = true;
  };

  const updateCount = () => {
    count.dataset.received = String(received);
    count.textContent = `${formatNumber(received)} event${received === 1 ? '' : 's'} received${buffered.length ? ` · ${formatNumber(buffered.length)} waiting` : ''}`;
    pauseButton.textContent = paused ? `Resume${buffered.length ? ` (${formatNumber(buffered.length)} new)` : ''}` : 'Pause';
  };

  const receive = (/** @type {any} */ event, /** @type {boolean} */ fresh) => {
    if (lastCursor !== null && !cursorAfter(event.cursor, lastCursor)) return;
    lastCursor = event.cursor;
    received += 1;
    addType(event.type);
    if (paused) buffered.push(event);
    else render(event, fresh);
    updateCount();
  };

  const connect = () => {
    if (stopped) return;
    const url = lastCursor === null ? `/api/live?backlog=${BACKLOG}` : `/api/live?after=${encodeURIComponent(lastCursor)}`;
    const opened = new EventSource(url);
    source = opened;
    let backlog = 0;
    opened.addEventListener('ready', (message) => {
      const data = JSON.parse(/** @type {MessageEvent} */ (message).data);
      backlog = data.backlog;
      if (lastCursor === null && data.backlog === 0) lastCursor = data.cursor;
      attempts = 0;
      setStatus(paused ? 'paused' : 'connected', paused ? 'Paused' : 'Live');
    });
    opened.addEventListener('append', (message) => {
      const event = JSON.parse(/** @type {MessageEvent} */ (message).data);
      receive(event, backlog <= 0);
      backlog -= 1;
    });
    opened.addEventListener('held', (message) => {
      const data = JSON.parse(/** @type {MessageEvent} */ (message).data);
      heldNote.hidden = data.events === 0;
      heldNote.textContent = `${formatNumber(data.events)}${data.events > 10000 ? '+' : ''} held back by an open transaction`;
    });
    opened.addEventListener('problem', (message) => {
      const data = JSON.parse(/** @type {MessageEvent} */ (message).data);
      statusText.textContent = `Problem: ${data.message}`;
    });
    opened.onerror = () => {
      opened.close();
      if (stopped) return;
      attempts += 1;
      const delay = Math.min(5000, 250 * 2 ** Math.min(attempts, 5));
      setStatus('reconnecting', `Reconnecting in ${Math.round(delay / 100) / 10} s (attempt ${attempts})`);
      retryTimer = setTimeout(connect, delay);
    };
  };

  const togglePause = () => {
    paused = !paused;
    if (!paused) {
      for (const event of buffered) render(event, true);
      buffered = [];
    }
    if (source && source.readyState === EventSource.OPEN) setStatus(paused ? 'paused' : 'connected', paused ? 'Paused' : 'Live');
    pauseButton.setAttribute('aria-pressed', String(paused));
    updateCount();
  };

  pauseButton.addEventListener('click', togglePause);
  clearButton.addEventListener('click', () => {
    list.replaceChildren();
    empty.hidden = false;
  });
  filter.addEventListener('change', applyFilter);

  replaceChildren(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Live feed'), h('div', { class: 'sub' }, 'Events as they are appended, newest first; the gap-safe order, resumed from the last cursor after a reconnect.')),
    ),
    h('div', { class: 'stack' }, h('div', { class: 'panel panel-body toolbar' }, status, count, heldNote, h('span', { class: 'spacer' }), h('label', { class: 'toolbar' }, h('span', { class: 'muted' }, 'Type'), filter), pauseButton, clearButton), body),
  );

  getJson('/event-types')
    .then((all) => {
      for (const type of all) addType(type.type);
    })
    .catch(() => undefined);
  connect();

  return {
    unmount() {
      stopped = true;
      clearTimeout(retryTimer);
      source?.close();
    },
    /** @param {KeyboardEvent} event */
    onKey(event) {
      if (event.key !== 'p') return false;
      togglePause();
      return true;
    },
  };
}
