// @ts-check
import { getJson } from '../api.js';
import { h, replaceChildren, shortStream } from '../dom.js';
import { eventCard } from '../event-card.js';
import { errorNotice } from '../ui.js';

export const title = 'Event';

/**
 * The trace and span of the append that stored the event, from the W3C traceparent pgevents keeps
 * in its metadata when an OpenTelemetry SDK recorded the append; null without one.
 * @param {any} metadata
 * @returns {{ traceId: string; spanId: string } | null}
 */
function traceOf(metadata) {
  const match = typeof metadata?.traceparent === 'string' ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(metadata.traceparent) : null;
  return match ? { traceId: /** @type {string} */ (match[1]), spanId: /** @type {string} */ (match[2]) } : null;
}

/**
 * One event by position, with links to its neighbours in the global (gap-safe) order.
 * `#/events/<position>/previous` and `/next` resolve the neighbour and open it.
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const position = context.params.position ?? '';
  const step = context.params.step;
  const controller = new AbortController();
  /** @type {{ previous: number | null; next: number | null } | null} */
  let neighbours = null;

  replaceChildren(root, h('p', { class: 'loading' }, 'Loading event…'));
  getJson(`/events/${encodeURIComponent(position)}`, {}, controller.signal)
    .then((data) => {
      if (step) {
        const target = step === 'previous' ? data.previous : data.next;
        if (target !== null) {
          location.replace(`#/events/${target}`);
          return;
        }
      }
      neighbours = { previous: data.previous, next: data.next };
      const event = data.event;
      const nav = h(
        'div',
        { class: 'toolbar' },
        data.previous !== null
          ? h('a', { class: 'button', href: `#/events/${data.previous}`, 'data-log': 'previous', title: 'previous event in the log ( [ )' }, '← Previous')
          : h('button', { type: 'button', class: 'button', disabled: true }, '← Previous'),
        data.next !== null
          ? h('a', { class: 'button', href: `#/events/${data.next}`, 'data-log': 'next', title: 'next event in the log ( ] )' }, 'Next →')
          : h('button', { type: 'button', class: 'button', disabled: true, title: 'No later event yet (or one held back by an open transaction)' }, 'Next →'),
      );
      const facts = h(
        'dl',
        { class: 'kv' },
        h('dt', {}, 'Stream'),
        h('dd', {}, h('a', { class: 'mono', href: `#/streams/${event.stream}` }, event.stream)),
        h('dt', {}, 'Version'),
        h('dd', {}, `${event.version} of ${data.streamVersion}`),
        h('dt', {}, 'Position'),
        h('dd', { class: 'mono' }, String(event.position)),
        h('dt', {}, 'Transaction'),
        h('dd', { class: 'mono' }, event.transactionId),
        h('dt', {}, 'Cursor'),
        h('dd', { class: 'mono' }, event.cursor),
        h('dt', {}, 'Type version'),
        h('dd', {}, `v${event.typeVersion}`),
        h('dt', {}, 'Trace'),
        (() => {
          const trace = traceOf(event.metadata);
          return trace
            ? h('dd', { class: 'mono', 'data-trace-id': trace.traceId, title: `appended in span ${trace.spanId}` }, trace.traceId)
            : h('dd', { class: 'muted' }, 'none recorded (no OpenTelemetry SDK traced the append)');
        })(),
      );
      replaceChildren(
        root,
        h(
          'div',
          { class: 'page-head' },
          h(
            'div',
            {},
            h(
              'nav',
              { class: 'crumbs', 'aria-label': 'Breadcrumb' },
              h('a', { href: '#/streams' }, 'Streams'),
              h('span', { 'aria-hidden': 'true' }, '/'),
              h('a', { class: 'mono', href: `#/streams/${event.stream}` }, shortStream(event.stream)),
              h('span', { 'aria-hidden': 'true' }, '/'),
              h('span', {}, `v${event.version}`),
            ),
            h('h1', {}, h('span', { class: 'event-type' }, event.type), h('span', { class: 'muted' }, ` #${event.position}`)),
            step ? h('div', { class: 'sub' }, `No ${step} event in the log yet.`) : null,
          ),
          nav,
        ),
        h('div', { class: 'stack' }, eventCard(event, { showStream: true, logLinks: false, extra: [facts] })),
      );
    })
    .catch((error) => {
      if (!controller.signal.aborted) replaceChildren(root, h('div', { class: 'page-head' }, h('h1', {}, `Event #${position}`)), errorNotice(error));
    });

  return {
    unmount: () => controller.abort(),
    /** @param {KeyboardEvent} event */
    onKey(event) {
      if (!neighbours) return false;
      const target = event.key === '[' ? neighbours.previous : event.key === ']' ? neighbours.next : null;
      if (target === null) return false;
      location.hash = `#/events/${target}`;
      return true;
    },
  };
}
