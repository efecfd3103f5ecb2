// @ts-check
import { ApiError, getJson, postAction } from '../api.js';
import { formatDuration, formatNumber, h, replaceChildren, timeAgo } from '../dom.js';
import { confirmAction, emptyState, errorNotice, readOnlyNotice, stateBadge, toast, unavailable } from '../ui.js';

export const title = 'Subscriptions';

const REFRESH_MS = 3000;

/**
 * Subscriptions with their checkpoint, lag, state and last error; reset, skip and resume with a
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
   * @param {'reset' | 'skip' | 'resume'} action
   */
  const actionButton = (subscription, action) => {
    const allowed = session.permissions.subscriptions;
    const label = action === 'reset' ? 'Reset' : action === 'skip' ? 'Skip' : 'Resume';
    const stuck = subscription.state === 'failed' && subscription.failedEvent;
    const reason = !allowed
      ? `Role ${session.role} may only read`
      : action === 'skip' && !stuck
        ? 'Only a failed subscription has an event to skip'
        : action === 'resume' && !stuck
          ? 'Only a failed subscription has an event to retry'
          : null;
    const button = h('button', { type: 'button', class: 'button small', 'data-action': action, disabled: reason !== null, title: reason ?? `${label} ${subscription.name}` }, label);
    button.addEventListener('click', async () => {
      /** @type {HTMLSelectElement | null} */
      let target = null;
      /** @type {(string | Node)[]} */
      let body;
      if (action === 'reset') {
        target = h('select', { 'data-reset-to': '' }, h('option', { value: 'start' }, 'the start: every event is delivered again'), h('option', { value: 'end' }, 'the end: skip every event stored until now'));
        body = [
          `Moves the checkpoint of ${subscription.name} and clears its failure.${subscription.kind === 'projection' ? ' An async projection resets to the start only, and its tables are emptied.' : ''}`,
          h('label', { class: 'field' }, h('span', {}, 'Move the checkpoint to'), target),
        ];
      } else if (action === 'skip') {
        const event = subscription.failedEvent;
        body = [`Skips event #${event?.position} (${event?.type ?? 'unknown type'}) that ${subscription.name} failed on: it is never delivered to this subscription; delivery goes on with the next one.`];
      } else {
        const event = subscription.failedEvent;
        body = [`Retries event #${event?.position} (${event?.type ?? 'unknown type'}) that ${subscription.name} failed on: its runner delivers it again (with its retries), and goes on when it succeeds. Fix what made it fail first.`];
      }
      if (!(await confirmAction({ title: `${label} ${subscription.name}?`, body, confirm: label, danger: action !== 'resume' }))) return;
      try {
        await postAction(`/subscriptions/${encodeURIComponent(subscription.name)}/${action}`, target ? { to: target.value } : {});
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
              h('thead', {}, h('tr', {}, ...['Subscription', 'State', 'Checkpoint', 'Lag', 'Waiting', 'Last error', 'Updated', ''].map((label) => h('th', { class: label === 'Lag' || label === 'Waiting' ? 'num' : null }, label)))),
              h(
                'tbody',
                {},
                ...data.subscriptions.map((/** @type {any} */ subscription) =>
                  h(
                    'tr',
                    { 'data-subscription': subscription.name, 'data-state': subscription.state },
                    h('td', { class: 'nowrap' }, h('span', { class: 'mono' }, subscription.name), subscription.kind === 'projection' ? h('span', { class: 'sub' }, 'async projection') : null, subscription.runner ? h('span', { class: 'sub' }, `in ${subscription.runner}`) : null),
                    h('td', { class: 'nowrap' }, stateBadge(subscription.state), subscription.attempts > 0 ? h('span', { class: 'sub' }, `${subscription.attempts} failed attempt${subscription.attempts === 1 ? '' : 's'}`) : null),
                    h('td', { class: 'mono' }, subscription.checkpoint ?? '–'),
                    h('td', { class: 'num nowrap' }, `${formatNumber(subscription.lagEvents)} event${subscription.lagEvents === 1 ? "" : "s"}`, subscription.heldBackEvents ? h('span', { class: 'sub' }, `${formatNumber(subscription.heldBackEvents)} held back`) : null),
                    h('td', { class: 'num' }, formatDuration(subscription.lagSeconds)),
                    h(
                      'td',
                      { class: 'error-cell' },
                      subscription.lastError ? h('span', { class: 'badge error wrap', title: subscription.lastError }, subscription.lastError.slice(0, 160)) : h('span', { class: 'faint' }, 'none'),
                      subscription.failedEvent ? h('span', { class: 'sub' }, 'at ', h('a', { href: `#/events/${subscription.failedEvent.position}` }, `#${subscription.failedEvent.position}`), subscription.failedEvent.type ? ` ${subscription.failedEvent.type}` : '') : null,
                    ),
                    h('td', { class: 'nowrap' }, timeAgo(subscription.updatedAt)),
                    h('td', {}, h('span', { class: 'toolbar nowrap' }, actionButton(subscription, 'resume'), actionButton(subscription, 'reset'), actionButton(subscription, 'skip'))),
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
