// @ts-check
import { appendsChart } from '../chart.js';
import { formatNumber, h, replaceChildren, route } from '../dom.js';
import { emptyState, listNavigator, refreshEvery } from '../ui.js';

export const title = 'Overview';

const REFRESH_MS = 5000;

/**
 * @param {string} label
 * @param {string} value
 * @param {string} [note]
 */
function stat(label, value, note) {
  return h('div', { class: 'panel stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-stat': label }, value), note ? h('div', { class: 'note' }, note) : null);
}

/** @param {any[]} items */
function attentionList(items) {
  if (items.length === 0) return h('div', { class: 'all-good' }, '✓ Nothing needs attention');
  return h(
    'ul',
    { class: 'attention' },
    ...items.map((item) =>
      h(
        'li',
        { 'data-attention': item.subject },
        h('span', { class: `badge dot ${item.level === 'error' ? 'error' : item.level === 'warning' ? 'warn' : 'info'}` }, item.level),
        h('div', {}, h('a', { class: 'what', href: item.link }, `${item.subject.replace('_', ' ')} ${item.name}`), h('div', { class: 'message' }, item.message)),
      ),
    ),
  );
}

/** @param {any[]} types */
function eventTypesTable(types) {
  if (types.length === 0) return emptyState('No events yet', 'Append one with `pgevents append` or store.append().');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Event type'), h('th', { class: 'num' }, 'Events'), h('th', { class: 'num' }, 'Last position'), h('th', {}, 'Handled by'))),
      h(
        'tbody',
        {},
        ...types.map((type) =>
          h(
            'tr',
            { 'data-href': route('/streams', { type: type.type }) },
            h('td', {}, h('a', { class: 'chip', href: route('/streams', { type: type.type }), title: `Streams with ${type.type} events` }, type.type)),
            h('td', { class: 'num' }, formatNumber(type.events)),
            h('td', { class: 'num' }, h('a', { class: 'mono', href: `#/events/${type.lastPosition}` }, `#${type.lastPosition}`)),
            h(
              'td',
              {},
              type.handledBy.length > 0
                ? h('span', { class: 'chips' }, ...type.handledBy.map((/** @type {string} */ name) => h('a', { href: `#/projections/${encodeURIComponent(name)}` }, name)))
                : h('span', { class: 'badge warn' }, 'no projection'),
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * The declared types (version, validation, what older versions get) and the upcasters that make
 * every read hand out the current shape.
 * @param {any[]} declared
 * @param {any[]} upcasters
 * @param {boolean} strict
 */
function declaredTypesPanel(declared, upcasters, strict) {
  if (declared.length === 0) return null;
  const upcastersOf = (/** @type {string} */ type) => upcasters.filter((u) => u.type === type);
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'declared-title' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'declared-title' }, 'Declared event types'), h('span', { class: 'hint' }, strict ? 'strict: undeclared types are refused' : 'not strict')),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { 'data-table': 'declared-types' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Event type'), h('th', { class: 'num' }, 'Version'), h('th', {}, 'Validation'), h('th', {}, 'Older versions'), h('th', {}, 'Upcasters'), h('th', {}, 'Description'))),
        h(
          'tbody',
          {},
          ...declared.map((type) =>
            h(
              'tr',
              { 'data-declared-type': type.type },
              h('td', {}, h('span', { class: 'chip' }, type.type)),
              h('td', { class: 'num' }, `v${type.version}`),
              h('td', {}, [type.requiredFields ? `requires ${type.requiredFields.join(', ')}` : '', type.checkFunction ?? ''].filter(Boolean).join('; ') || '—'),
              h('td', {}, type.oldVersions),
              h(
                'td',
                { class: 'mono' },
                upcastersOf(type.type)
                  .map((u) => `v${u.fromVersion} → ${u.toType} v${u.toVersion} (${u.function})`)
                  .join('; ') || '—',
              ),
              h('td', {}, type.description ?? ''),
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const draw = (/** @type {any} */ data) => {
    const lastPosition = data.lastPosition === null ? 'no events yet' : `last position #${formatNumber(data.lastPosition)}`;
    replaceChildren(
      root,
      h(
        'div',
        { class: 'page-head' },
        h('div', {}, h('h1', {}, 'Overview'), h('div', { class: 'sub' }, `${data.engine} engine · schema ${data.schema} (migration ${data.schemaVersion}) · ${lastPosition}`)),
        h('span', { class: 'muted' }, 'refreshes every 5 s'),
      ),
      h(
        'div',
        { class: 'stack' },
        h(
          'div',
          { class: 'grid cols-4' },
          stat('Events', formatNumber(data.events)),
          stat('Streams', formatNumber(data.streams)),
          stat('Event types', formatNumber(data.eventTypes.length), data.eventTypes.some((/** @type {any} */ t) => t.handledBy.length === 0) ? 'some not handled by any projection' : undefined),
          stat('Projections', formatNumber(data.projections)),
        ),
        h(
          'div',
          { class: 'grid two' },
          h('section', { class: 'panel', 'aria-labelledby': 'chart-title' }, h('div', { class: 'panel-head' }, h('h2', { id: 'chart-title' }, 'Appends per minute'), h('span', { class: 'hint' }, 'last hour')), h('div', { class: 'panel-body' }, appendsChart(data.chart))),
          h('section', { class: 'panel', 'aria-labelledby': 'attention-title' }, h('div', { class: 'panel-head' }, h('h2', { id: 'attention-title' }, 'Needs attention'), h('span', { class: 'hint' }, `${data.attention.length} item${data.attention.length === 1 ? '' : 's'}`)), attentionList(data.attention)),
        ),
        h('section', { class: 'panel', 'aria-labelledby': 'types-title' }, h('div', { class: 'panel-head' }, h('h2', { id: 'types-title' }, 'Event types'), h('span', { class: 'hint' }, 'j / k to move, Enter to open')), eventTypesTable(data.eventTypes)),
        declaredTypesPanel(data.declaredTypes, data.upcasters, data.strictEventTypes),
      ),
    );
  };

  const stop = refreshEvery({ root, path: '/overview', title: 'Overview', everyMs: REFRESH_MS, draw });
  void context;

  return {
    unmount: stop,
    onKey: listNavigator(
      () => [...root.querySelectorAll('tr[data-href]')].map((row) => /** @type {HTMLElement} */ (row)),
      (row) => (location.hash = row.dataset.href ?? '#/streams'),
    ),
  };
}
