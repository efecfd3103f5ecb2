// @ts-check
// One event: type, version, position, time, ids, metadata and the body as a JSON tree.
import { formatTime, h, shortStream, timeAgo } from './dom.js';
import { jsonView } from './json-view.js';

/**
 * @param {any} event
 * @param {{ showStream?: boolean; logLinks?: boolean; extra?: Node[] }} [options]
 */
export function eventCard(event, options = {}) {
  const metadataKeys = event.metadata && typeof event.metadata === 'object' ? Object.keys(event.metadata).length : 0;
  return h(
    'article',
    { class: 'event', id: `event-${event.position}`, 'data-position': event.position, 'data-version': event.version, tabindex: '-1' },
    h(
      'header',
      { class: 'event-head' },
      h('span', { class: 'version', title: 'version in its stream' }, `v${event.version}`),
      h('span', { class: 'event-type', 'data-type': '' }, event.type),
      h(
        'span',
        { class: 'event-meta' },
        h('a', { class: 'mono', href: `#/events/${event.position}`, title: 'position in the whole store: open this event' }, `#${event.position}`),
        h('span', { title: formatTime(event.insertedAt) }, timeAgo(event.insertedAt)),
        options.showStream ? h('a', { class: 'mono', href: `#/streams/${event.stream}`, title: event.stream }, `stream ${shortStream(event.stream)}`) : null,
        h('span', { class: 'mono faint', title: 'event id' }, event.eventId),
      ),
    ),
    h(
      'div',
      { class: 'event-body' },
      h('div', { 'data-body': '' }, jsonView(event.body, { label: 'Body' })),
      metadataKeys > 0
        ? h('div', { 'data-metadata': '' }, jsonView(event.metadata, { label: `Metadata (${metadataKeys})`, openDepth: 0 }))
        : h('div', { class: 'section-label' }, 'Metadata', h('span', { class: 'faint' }, 'none')),
      ...(options.extra ?? []),
    ),
    options.logLinks === false
      ? null
      : h(
          'footer',
          { class: 'event-foot' },
          h('a', { href: `#/events/${event.position}/previous`, 'data-log': 'previous' }, '← previous in the log'),
          h('span', { class: 'faint' }, 'global order: transaction, position'),
          h('a', { href: `#/events/${event.position}/next`, 'data-log': 'next' }, 'next in the log →'),
        ),
  );
}
