// @ts-check
import { getJson } from '../api.js';
import { formatNumber, h, replaceChildren, route, timeAgo } from '../dom.js';
import { emptyState, errorNotice, listNavigator, pager } from '../ui.js';

export const title = 'Streams';

const PAGE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** @param {string | null} iso */
function toLocalInput(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

/** @param {string} value */
function fromLocalInput(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

/**
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const { query } = context;
  const state = {
    q: query.get('q') ?? '',
    type: query.get('type') ?? '',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
    offset: Number(query.get('offset') ?? 0) || 0,
  };
  const controller = new AbortController();

  const q = h('input', { type: 'search', name: 'q', value: state.q, placeholder: 'uuid or its first digits', spellcheck: 'false', 'aria-label': 'Stream uuid' });
  const type = h('select', { name: 'type', 'aria-label': 'Event type' }, h('option', { value: '' }, 'any type'));
  const from = h('input', { type: 'datetime-local', name: 'from', value: toLocalInput(state.from), 'aria-label': 'From' });
  const to = h('input', { type: 'datetime-local', name: 'to', value: toLocalInput(state.to), 'aria-label': 'To' });
  const results = h('section', { class: 'panel', 'aria-live': 'polite' }, h('p', { class: 'empty' }, 'Searching…'));
  const form = h(
    'form',
    { class: 'panel panel-body filters', role: 'search' },
    h('label', { class: 'field' }, h('span', {}, 'Stream'), q),
    h('label', { class: 'field' }, h('span', {}, 'Event type'), type),
    h('label', { class: 'field' }, h('span', {}, 'From'), from),
    h('label', { class: 'field' }, h('span', {}, 'To'), to),
    h(
      'div',
      { class: 'toolbar filter-actions' },
      h('button', { type: 'submit', class: 'button primary' }, 'Search'),
      h('a', { class: 'button', href: '#/streams' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = q.value.trim();
    if (UUID.test(text) && !type.value && !from.value && !to.value) {
      location.hash = `#/streams/${text.toLowerCase()}`;
      return;
    }
    location.hash = route('/streams', { q: text, type: type.value, from: fromLocalInput(from.value), to: fromLocalInput(to.value) });
  });
  replaceChildren(
    root,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Streams'), h('div', { class: 'sub' }, 'Find streams by uuid, event type and time; most recently written first.'))),
    h('div', { class: 'stack' }, form, results),
  );
  if (!state.q && !state.type && !state.from && !state.to) q.focus();

  getJson('/event-types', {}, controller.signal)
    .then((eventTypes) => {
      for (const eventType of eventTypes) type.appendChild(h('option', { value: eventType.type, selected: eventType.type === state.type }, `${eventType.type} (${formatNumber(eventType.events)})`));
      if (state.type && !eventTypes.some((/** @type {any} */ t) => t.type === state.type)) type.appendChild(h('option', { value: state.type, selected: true }, state.type));
    })
    .catch(() => undefined);

  const go = (/** @type {number} */ offset) => {
    location.hash = route('/streams', { q: state.q, type: state.type, from: state.from, to: state.to, offset: offset || null });
  };

  getJson('/streams', { q: state.q, type: state.type, from: state.from, to: state.to, offset: state.offset, limit: PAGE }, controller.signal)
    .then((data) => {
      const filtered = Boolean(state.type || state.from || state.to);
      if (data.streams.length === 0) {
        replaceChildren(results, emptyState('No streams match', state.q || filtered ? 'Try a shorter uuid prefix or fewer filters.' : 'No events have been appended yet.'));
        return;
      }
      const rows = data.streams.map((/** @type {any} */ item) =>
        h(
          'tr',
          { 'data-stream': item.stream },
          h('td', {}, h('a', { class: 'mono', href: `#/streams/${item.stream}` }, item.stream)),
          h('td', { class: 'num' }, formatNumber(item.version)),
          filtered ? h('td', { class: 'num' }, formatNumber(item.matching)) : null,
          h(
            'td',
            {},
            h(
              'span',
              { class: 'chips' },
              ...item.types.slice(0, 3).map((/** @type {string} */ name) => h('span', { class: 'chip' }, name)),
              item.types.length > 3 ? h('span', { class: 'faint' }, `+${item.types.length - 3}`) : null,
            ),
          ),
          h('td', { class: 'nowrap' }, timeAgo(item.lastAt)),
          h('td', { class: 'nowrap' }, timeAgo(item.firstAt)),
        ),
      );
      replaceChildren(
        results,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { 'data-results': '' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'Stream'),
                h('th', { class: 'num' }, 'Events'),
                filtered ? h('th', { class: 'num' }, 'Matching') : null,
                h('th', {}, 'Types'),
                h('th', {}, 'Last event'),
                h('th', {}, 'First event'),
              ),
            ),
            h('tbody', {}, ...rows),
          ),
        ),
        pager({
          noun: 'Streams',
          from: data.offset + 1,
          to: data.offset + data.streams.length,
          hasPrevious: data.offset > 0,
          hasNext: data.hasMore,
          onPrevious: () => go(Math.max(0, data.offset - PAGE)),
          onNext: () => go(data.offset + PAGE),
        }),
      );
    })
    .catch((error) => {
      if (!controller.signal.aborted) replaceChildren(results, errorNotice(error));
    });

  return {
    unmount: () => controller.abort(),
    onKey: listNavigator(
      () => [...root.querySelectorAll('tr[data-stream]')].map((row) => /** @type {HTMLElement} */ (row)),
      (row) => (location.hash = `#/streams/${row.dataset.stream}`),
    ),
  };
}
