// @ts-check
import { getJson } from '../api.js';
import { formatNumber, h, replaceChildren } from '../dom.js';
import { emptyState, errorNotice, pager } from '../ui.js';
import { projectionBoard } from './projections.js';

export const title = 'Projection';

const PAGE = 25;

/** @param {unknown} value */
function cell(value) {
  if (value === null || value === undefined) return h('td', {}, h('span', { class: 'null' }, 'null'));
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return h('td', { title: text.length > 60 ? text.slice(0, 2000) : null }, text.length > 300 ? `${text.slice(0, 299)}…` : text);
}

/**
 * One projection: its card and a preview of its read model, a page of rows at a time.
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const name = context.params.name ?? '';
  const controller = new AbortController();
  const cardSlot = h('div', { class: 'cards' });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Tables' });
  const grid = h('div', {}, h('p', { class: 'empty' }, 'Loading rows…'));
  const preview = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'preview-title', 'data-preview': '' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'preview-title' }, 'Read model'), tabs),
    grid,
  );
  /** @type {string | null} */
  let table = null;
  let offset = 0;

  const loadRows = async () => {
    if (table === null) return;
    try {
      const data = await getJson(`/projections/${encodeURIComponent(name)}/rows`, { table, offset, limit: PAGE }, controller.signal);
      if (data.rows.length === 0 && offset === 0) {
        replaceChildren(grid, emptyState('No rows', `${data.relation} is empty.`));
        return;
      }
      replaceChildren(
        grid,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'grid-table', 'data-rows': '' },
            h('thead', {}, h('tr', {}, ...data.columns.map((/** @type {any} */ column) => h('th', {}, column.name, h('span', { class: 'type' }, column.type))))),
            h('tbody', {}, ...data.rows.map((/** @type {unknown[]} */ row) => h('tr', {}, ...row.map(cell)))),
          ),
        ),
        pager({
          noun: `Rows (by ${data.orderedBy})`,
          from: offset + 1,
          to: offset + data.rows.length,
          hasPrevious: offset > 0,
          hasNext: data.hasMore,
          onPrevious: () => {
            offset = Math.max(0, offset - PAGE);
            void loadRows();
          },
          onNext: () => {
            offset += PAGE;
            void loadRows();
          },
        }),
      );
    } catch (error) {
      if (!controller.signal.aborted) replaceChildren(grid, errorNotice(error));
    }
  };

  const showTabs = (/** @type {any[]} */ tables) => {
    replaceChildren(
      tabs,
      ...tables.map((/** @type {any} */ info) => {
        const tab = h('button', { type: 'button', class: 'tab', role: 'tab', 'aria-selected': String(info.name === table) }, info.name, info.rows !== null ? h('span', { class: 'faint' }, ` ${formatNumber(info.rows)}`) : null);
        tab.addEventListener('click', () => {
          table = info.name;
          offset = 0;
          showTabs(tables);
          void loadRows();
        });
        return tab;
      }),
    );
  };

  let firstLoad = true;
  replaceChildren(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/projections' }, 'Projections'), h('span', { 'aria-hidden': 'true' }, '/'), h('span', {}, name)), h('h1', {}, name)),
    ),
    h('div', { class: 'stack' }, cardSlot, preview),
  );
  const board = projectionBoard(cardSlot, {
    session: context.session,
    detailLink: false,
    load: async () => [await getJson(`/projections/${encodeURIComponent(name)}`, {}, controller.signal)],
    onLoaded: (projections) => {
      const projection = projections[0];
      if (!projection) return;
      if (firstLoad) {
        firstLoad = false;
        table = projection.tables[0]?.name ?? null;
        if (table === null) replaceChildren(grid, emptyState('No tables', 'This projection declares no read-model tables.'));
      }
      showTabs(projection.tables);
      void loadRows();
    },
  });

  return {
    unmount() {
      controller.abort();
      board.stop();
    },
  };
}
