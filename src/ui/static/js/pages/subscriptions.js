// @ts-check
import { ApiError, getJson, postAction } from '../api.js';
import { formatDuration, formatNumber, h, replaceChildren, timeAgo } from '../dom.js';
import { confirmAction, emptyState, errorNotice, readOnlyNotice, stateBadge, toast, unavailable } from '../ui.js';

export const title = 'Subscriptions';

const REFRESH_MS = 3000;

/**
 * Subscriptions with their checkpoint, lag, state and last error; reset and skip with a
 * confirmation. Shown as not available when the store has no subscriptions.
 * @param {HTMLElement} root
 * @param {import('../main.js').PageContext} context
 */
export function mount(root, context) {
  const { session } = context;
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const body = h('div', {}, h('p', { class: 'loading' }, 'Loading subscriptions…'));
  replaceChildren(
    root,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Subscriptions'), h('div', { class: 'sub' }, 'Durable readers of the log: where each one is, how far behind, and whether it is stuck.'))),
    h('div', { class: 'stack' }, readOnlyNotice(session), body),
  );

  /**
   * @param {any} subscription
   * @param {'reset' | 'skip'} action
   */
  const actionButton = (subscription, action) => {
    const allowed = session.permissions.subscriptions;
    const label = action === 'reset' ? 'Reset' : 'Skip';
    const text =
      action === 'reset'
        ? `Moves the checkpoint of ${subscription.name} back to the start: every event is delivered to it again.`
        : `Skips the event ${subscription.name} is stuck on: it is never delivered to this subscription.`;
    const button = h('button', { type: 'button', class: 'button small', 'data-action': action, disabled: !allowed, title: allowed ? `${label} ${subscription.name}` : `Role ${session.role} may only read` }, label);
    button.addEventListener('click', async () => {
      if (!(await confirmAction({ title: `${label} ${subscription.name}?`, body: [text], confirm: label, danger: true }))) return;
      try {
        await postAction(`/subscriptions/${encodeURIComponent(subscription.name)}/${action}`);
        toast(`${label} of ${subscription.name} done`);
        void load();
      } catch (error) {
        toast(error instanceof ApiError ? error.message : String(error), { error: true });
      }
    });
    return button;
  };

  const load = async () => {
    clearTimeout(timer);
    try {
      const data = await getJson('/subscriptions');
      if (stopped) return;
      if (!data.available) {
        replaceChildren(body, unavailable('Subscriptions', data.missing));
        return;
      }
      if (data.subscriptions.length === 0) replaceChildren(body, h('div', { class: 'panel' }, emptyState('No subscriptions yet', 'Start one with store.subscribe({ name, handler }).')));
      else
        replaceChildren(
          body,
          h(
            'div',
            { class: 'panel table-wrap' },
            h(
              'table',
              {},
              h('thead', {}, h('tr', {}, ...['Subscription', 'State', 'Checkpoint', 'Lag (events)', 'Lag (time)', 'Last error', 'Updated', ''].map((label) => h('th', {}, label)))),
              h(
                'tbody',
                {},
                ...data.subscriptions.map((/** @type {any} */ subscription) =>
                  h(
                    'tr',
                    { 'data-subscription': subscription.name },
                    h('td', { class: 'mono' }, subscription.name),
                    h('td', {}, stateBadge(subscription.state)),
                    h('td', { class: 'mono' }, subscription.checkpoint ?? '–'),
                    h('td', { class: 'num' }, formatNumber(subscription.lagEvents)),
                    h('td', { class: 'num' }, formatDuration(subscription.lagSeconds)),
                    h('td', {}, subscription.lastError ? h('span', { class: 'badge error', title: subscription.lastError }, subscription.lastError.slice(0, 80)) : h('span', { class: 'faint' }, 'none')),
                    h('td', { class: 'nowrap' }, timeAgo(subscription.updatedAt)),
                    h('td', { class: 'toolbar' }, actionButton(subscription, 'reset'), actionButton(subscription, 'skip')),
                  ),
                ),
              ),
            ),
          ),
        );
    } catch (error) {
      if (!stopped) replaceChildren(body, errorNotice(error));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  void load();

  return {
    unmount() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
