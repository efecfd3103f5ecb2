// @ts-check
import { getJson } from '../api.js';
import { h, replaceChildren, timeAgo } from '../dom.js';
import { emptyState, errorNotice } from '../ui.js';

export const title = 'Erasures';

/**
 * One row per erasure (a pgevents.subject_forgotten audit event): when, who, why, the keys deleted
 * and what forget replayed, reset and cancelled. It holds no personal data, not even the subject.
 * @param {any} erasure
 */
export function erasureRow(erasure) {
  const list = (/** @type {string[]} */ names) => (names.length > 0 ? names.join(', ') : '—');
  return h(
    'tr',
    { 'data-erasure': String(erasure.position) },
    h('td', {}, h('a', { href: `#/events/${erasure.position}` }, `#${erasure.position}`)),
    h('td', { 'data-erasure-at': '' }, timeAgo(erasure.forgottenAt)),
    h('td', { 'data-erasure-by': '' }, erasure.forgottenBy),
    h('td', { 'data-erasure-reason': '' }, erasure.reason),
    h('td', { class: 'mono', 'data-erasure-keys': '' }, erasure.keys.join(', ')),
    h('td', { 'data-erasure-replayed': '' }, list([...erasure.replayed, ...erasure.reset])),
    h('td', {}, list(erasure.rebuildsCancelled)),
  );
}

/** @param {any[]} erasures */
export function erasureTable(erasures) {
  return h(
    'div',
    { class: 'panel table-wrap' },
    h(
      'table',
      { 'data-erasures': '' },
      h('thead', {}, h('tr', {}, ...['Audit event', 'When', 'By', 'Why', 'Keys deleted', 'Projections replayed', 'Rebuilds cancelled'].map((label) => h('th', {}, label)))),
      h('tbody', {}, ...erasures.map(erasureRow)),
    ),
  );
}

/**
 * The erasure audit: every forget, newest first.
 * @param {HTMLElement} root
 */
export function mount(root) {
  const controller = new AbortController();
  const body = h('div', {}, h('p', { class: 'loading' }, 'Loading erasures…'));
  replaceChildren(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Erasures'), h('div', { class: 'sub' }, 'Data subjects forgotten (crypto-shredding): who, when, why, the keys deleted and the projections replayed. No personal data is recorded.')),
    ),
    body,
  );
  getJson('/erasures', {}, controller.signal)
    .then((data) => {
      replaceChildren(
        body,
        data.erasures.length === 0
          ? h('div', { class: 'panel' }, emptyState('No erasures', 'pgevents forget <subject> --reason "…" records one here.'))
          : erasureTable(data.erasures),
      );
    })
    .catch((error) => {
      if (!controller.signal.aborted) replaceChildren(body, errorNotice(error));
    });
  return { unmount: () => controller.abort() };
}
