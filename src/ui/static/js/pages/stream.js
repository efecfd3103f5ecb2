// @ts-check
import { getJson } from '../api.js';
import { copyText, formatNumber, h, replaceChildren, route, timeAgo } from '../dom.js';
import { eventCard } from '../event-card.js';
import { erasureTable } from './erasures.js';
import { errorNotice, pager, toast } from '../ui.js';

export const title = 'Stream';

const PAGE = 50;

/**
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const stream = context.params.stream ?? '';
  const fromVersion = Math.max(1, Number(context.query.get('from') ?? 1) || 1);
  const controller = new AbortController();
  /** @type {HTMLElement | null} */
  let focused = null;

  replaceChildren(root, h('p', { class: 'loading' }, 'Loading stream…'));
  getJson(`/streams/${encodeURIComponent(stream)}`, { fromVersion, limit: PAGE }, controller.signal)
    .then((data) => {
      const first = data.events[0];
      const last = data.events.at(-1);
      const copy = h(
        'button',
        {
          type: 'button',
          class: 'button small',
          on: { click: async () => toast((await copyText(stream)) ? 'Stream uuid copied' : 'Could not copy') },
        },
        'Copy uuid',
      );
      const go = (/** @type {number} */ version) => (location.hash = route(`/streams/${stream}`, { from: version > 1 ? version : null }));
      const list = h('div', { class: 'stack', 'data-events': '' }, ...data.events.map((/** @type {any} */ event) => eventCard(event)));
      replaceChildren(
        root,
        h(
          'div',
          { class: 'page-head' },
          h(
            'div',
            {},
            h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/streams' }, 'Streams'), h('span', { 'aria-hidden': 'true' }, '/'), h('span', {}, 'stream')),
            h('h1', { class: 'mono', 'data-stream-id': '' }, stream),
            h(
              'div',
              { class: 'sub' },
              h(
                'span',
                {
                  class: `badge dot ${data.state === 'live' ? 'ok' : data.state === 'archived' ? 'info' : 'error'}`,
                  'data-stream-state': data.state,
                  title: data.lastChange ? `${data.lastChange.operation} by ${data.lastChange.by}, ${data.lastChange.at}: ${data.lastChange.reason}` : '',
                },
                data.state,
              ),
              ' · ',
              `${formatNumber(data.eventCount)} event${data.eventCount === 1 ? '' : 's'}`,
              data.firstVersion > 1 ? ` (versions ${formatNumber(data.firstVersion)}–${formatNumber(data.version)}: truncated before ${formatNumber(data.firstVersion)})` : '',
              ' · ',
              first ? h('span', {}, 'this page from ', timeAgo(first.insertedAt), ' to ', timeAgo(last.insertedAt)) : null,
            ),
          ),
          h('div', { class: 'toolbar' }, copy, h('a', { class: 'button small', href: route('/live') }, 'Live feed')),
        ),
        data.erasures.length > 0
          ? h(
              'section',
              { class: 'stack', 'data-stream-erasures': '' },
              h('h2', {}, 'Personal data erased'),
              h('p', { class: 'sub' }, 'Fields of this stream\'s events were encrypted with keys that forget deleted: they read {"$pgevents": "erased"}.'),
              erasureTable(data.erasures),
            )
          : null,
        list,
        data.version > PAGE || fromVersion > 1
          ? h(
              'div',
              { class: 'panel' },
              pager({
                noun: 'Versions',
                from: Math.max(fromVersion, data.firstVersion ?? 1),
                to: last ? last.version : fromVersion - 1,
                total: data.version,
                hasPrevious: fromVersion > (data.firstVersion ?? 1),
                hasNext: last ? last.version < data.version : false,
                onPrevious: () => go(Math.max(1, fromVersion - PAGE)),
                onNext: () => go((last?.version ?? 0) + 1),
              }),
            )
          : null,
      );
    })
    .catch((error) => {
      if (!controller.signal.aborted) {
        replaceChildren(root, h('div', { class: 'page-head' }, h('div', {}, h('nav', { class: 'crumbs' }, h('a', { href: '#/streams' }, 'Streams')), h('h1', { class: 'mono' }, stream))), errorNotice(error));
      }
    });

  return {
    unmount: () => controller.abort(),
    /** @param {KeyboardEvent} event */
    onKey(event) {
      const cards = /** @type {HTMLElement[]} */ ([...root.querySelectorAll('article.event')]);
      if (cards.length === 0 || (event.key !== 'j' && event.key !== 'k')) return false;
      const index = focused ? cards.indexOf(focused) : -1;
      const next = event.key === 'j' ? Math.min(cards.length - 1, index + 1) : Math.max(0, index - 1);
      focused?.classList.remove('focused');
      focused = cards[next] ?? null;
      focused?.classList.add('focused');
      focused?.scrollIntoView({ block: 'start', behavior: 'smooth' });
      return true;
    },
  };
}
