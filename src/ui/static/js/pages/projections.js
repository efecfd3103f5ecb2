// @ts-check
import { getJson } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { followJob, projectionCard } from '../projection-card.js';
import { emptyState, errorNotice, listNavigator, readOnlyNotice } from '../ui.js';

export const title = 'Projections';

const REFRESH_MS = 5000;
const RUNNING = { rebuild: 'rebuilding', verify: 'verifying', refresh: 'refreshing' };

/**
 * Keeps a set of projection cards up to date: reloads them now and then, and follows the jobs
 * started from them until they end.
 * @param {HTMLElement} container
 * @param {{ session: any; load: () => Promise<any[]>; detailLink: boolean; onLoaded?: (projections: any[]) => void }} options
 */
export function projectionBoard(container, options) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {any[]} */
  let projections = [];
  const following = new Set();

  const replaceCard = (/** @type {any} */ projection) => {
    const card = projectionCard(projection, { session: options.session, onJob, onChanged: () => void load(), detailLink: options.detailLink });
    const old = [...container.querySelectorAll('[data-projection]')].find((element) => element.getAttribute('data-projection') === projection.name);
    if (old) old.replaceWith(card);
    else container.appendChild(card);
  };

  const follow = (/** @type {any} */ job) => {
    if (following.has(job.id)) return;
    following.add(job.id);
    void followJob(
      job.id,
      (update) => {
        const projection = projections.find((candidate) => candidate.name === update.target);
        if (!projection) return;
        projection.job = update;
        if (update.state === 'running') projection.state = /** @type {Record<string, string>} */ (RUNNING)[update.kind] ?? projection.state;
        replaceCard(projection);
      },
      () => stopped,
    ).then(() => {
      following.delete(job.id);
      if (!stopped) void load();
    });
  };

  function onJob(/** @type {any} */ job) {
    const projection = projections.find((candidate) => candidate.name === job.target);
    if (projection) {
      projection.job = job;
      projection.state = /** @type {Record<string, string>} */ (RUNNING)[job.kind] ?? projection.state;
      replaceCard(projection);
    }
    follow(job);
  }

  const load = async () => {
    clearTimeout(timer);
    try {
      projections = await options.load();
      if (stopped) return;
      if (projections.length === 0) replaceChildren(container, emptyState('No projections yet', 'Define one with store.defineProjection() or define_projection() in SQL.'));
      else {
        for (const element of container.querySelectorAll(':scope > :not([data-projection])')) element.remove();
        for (const element of container.querySelectorAll('[data-projection]')) {
          if (!projections.some((projection) => projection.name === element.getAttribute('data-projection'))) element.remove();
        }
        for (const projection of projections) replaceCard(projection);
      }
      options.onLoaded?.(projections);
      for (const projection of projections) if (projection.job?.state === 'running') follow(projection.job);
    } catch (error) {
      if (!stopped) replaceChildren(container, errorNotice(error));
    }
    // A rebuild started elsewhere (CLI, SQL) reports its progress in the store: follow it closely.
    const rebuilding = projections.some((projection) => projection.state === 'rebuilding');
    if (!stopped && following.size === 0) timer = setTimeout(load, rebuilding ? 1000 : REFRESH_MS);
  };

  void load();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const cards = h('div', { class: 'cards', 'data-projections': '' }, h('p', { class: 'loading' }, 'Loading projections…'));
  replaceChildren(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Projections'), h('div', { class: 'sub' }, 'Trigger projections (applied in the appending transaction) and materialized views.')),
    ),
    h('div', { class: 'stack' }, readOnlyNotice(context.session), cards),
  );
  const board = projectionBoard(cards, { session: context.session, load: () => getJson('/projections'), detailLink: true });
  return {
    unmount: () => board.stop(),
    onKey: listNavigator(
      () => [...root.querySelectorAll('[data-projection]')].map((card) => /** @type {HTMLElement} */ (card)),
      (card) => (location.hash = `#/projections/${encodeURIComponent(card.dataset.projection ?? '')}`),
    ),
  };
}
