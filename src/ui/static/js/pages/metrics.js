// @ts-check
import { formatNumber, h, replaceChildren } from '../dom.js';
import { emptyState, refreshEvery } from '../ui.js';

export const title = 'Metrics';

const REFRESH_MS = 5000;

/** @param {Record<string, string>} labels */
function labelText(labels) {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : entries.map(([name, value]) => `${name}="${value}"`).join(', ');
}

/** @param {number} value */
function valueText(value) {
  return Number.isInteger(value) ? formatNumber(value) : value.toFixed(3);
}

/**
 * The metrics `/metrics` serves to Prometheus, as tables: each family's help, type and samples.
 * @param {any[]} families
 */
function familiesTable(families) {
  if (families.length === 0) return emptyState('No metrics', 'The store reported none.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { 'data-table': 'metrics' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Metric'), h('th', {}, 'Labels'), h('th', { class: 'num' }, 'Value'))),
      h(
        'tbody',
        {},
        ...families.flatMap((family) => [
          h(
            'tr',
            { class: 'group', 'data-metric': family.name },
            h('td', { colspan: '3' }, h('span', { class: 'mono' }, family.name), h('span', { class: 'muted' }, ` ${family.type} · ${family.help}`)),
          ),
          ...(family.samples.length === 0
            ? [h('tr', {}, h('td', {}), h('td', { class: 'muted' }, 'no samples'), h('td', {}))]
            : family.samples.map((/** @type {any} */ sample) =>
                h(
                  'tr',
                  { 'data-sample': family.name },
                  h('td', {}),
                  h('td', { class: 'mono' }, `${sample.suffix ?? ''}${labelText(sample.labels)}`),
                  h('td', { class: 'num mono' }, valueText(sample.value)),
                ),
              )),
        ]),
      ),
    ),
  );
}

/**
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const draw = (/** @type {any} */ data) =>
    replaceChildren(
        root,
        h(
          'div',
          { class: 'page-head' },
          h('div', {}, h('h1', {}, 'Metrics'), h('div', { class: 'sub' }, 'what Prometheus scrapes at /metrics (with the console token as a Bearer token)')),
          h('span', { class: 'muted' }, 'refreshes every 5 s'),
        ),
        h('section', { class: 'panel' }, familiesTable(data.families)),
    );
  const stop = refreshEvery({ root, path: '/metrics', title: 'Metrics', everyMs: REFRESH_MS, draw });
  void context;
  return { unmount: stop };
}
