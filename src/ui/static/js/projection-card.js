// @ts-check
// A projection or materialized view: what it is, its state, its last job, and its actions.
import { ApiError, getJson, postAction } from './api.js';
import { formatNumber, h, timeAgo } from './dom.js';
import { confirmAction, progressBar, rebuildBar, stateBadge, toast } from './ui.js';

/**
 * @param {string} label
 * @param {...(string | Node | null)} value
 */
function fact(label, ...value) {
  return h('div', { class: 'fact' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, ...value));
}

/** @param {any} table */
function tableLine(table) {
  if (table.problem) return h('div', {}, h('span', { class: 'mono' }, table.name), ' ', h('span', { class: 'badge error', title: table.problem }, table.relation ? 'unreadable' : 'missing'));
  const rows = `${formatNumber(table.rows)}${table.rowsCapped ? '+' : ''} row${table.rows === 1 ? '' : 's'}`;
  return h('div', { 'data-table': table.name }, h('span', { class: 'mono' }, table.name), h('span', { class: 'muted' }, ` · ${rows}`));
}

/**
 * Why an action is disabled, or null when it may run.
 * @param {any} session
 * @param {'rebuild' | 'verify' | 'refresh'} action
 */
function disabledReason(session, action) {
  const feature = session.features[action];
  if (!feature.available) return `Not available in this version: ${feature.missing}`;
  if (!session.permissions[action]) return `Role ${session.role} may only read: ${action} is refused`;
  return null;
}

/** @param {any} projection */
function rebuildConfirmation(projection) {
  const tables = projection.tables.map((/** @type {any} */ table) => table.name).join(', ') || 'its tables';
  const how = projection.fastPath ? 'with its rebuild statement (the fast path)' : 'through its handlers, event by event';
  return [
    `Builds ${tables} anew in shadow copies ${how}, catches up with the appends made meanwhile, then swaps the new tables in.`,
    'Appends and readers go on while it runs; the swap takes a moment\'s lock. If it fails, the live tables stay as they are.',
  ];
}

/**
 * @param {any} projection
 * @param {{ session: any; onJob: (job: any) => void; onChanged?: () => void; detailLink?: boolean }} options
 */
export function projectionCard(projection, options) {
  const { session } = options;
  const isView = projection.kind === 'materialized_view';
  const running = projection.job?.state === 'running' || ['building', 'catching_up', 'swapping'].includes(projection.rebuild?.phase);

  /**
   * @param {'rebuild' | 'verify' | 'refresh'} action
   * @param {string} label
   * @param {string[]} body
   * @param {boolean} danger
   */
  const actionButton = (action, label, body, danger) => {
    const reason = disabledReason(session, action);
    const button = h(
      'button',
      { type: 'button', class: `button${danger ? ' primary' : ''}`, 'data-action': action, disabled: reason !== null || running, title: reason ?? (running ? 'A job is running' : `${label} ${projection.name}`) },
      label,
    );
    button.addEventListener('click', async () => {
      const confirmed = await confirmAction({ title: `${label} ${projection.name}?`, body, confirm: label, danger });
      if (!confirmed) return;
      try {
        const job = await postAction(`/projections/${encodeURIComponent(projection.name)}/${action}`);
        toast(`${label} of ${projection.name} started`);
        options.onJob(job);
      } catch (error) {
        toast(error instanceof ApiError ? `${error.message}${error.hint ? ` — ${error.hint}` : ''}` : String(error), { error: true });
      }
    });
    return button;
  };

  /** Stops a rebuild in progress (this console's, or one started elsewhere) or drops a failed one. */
  const cancelRebuildButton = () => {
    const unfinished = (projection.job?.kind === 'rebuild' && projection.job?.state === 'running') || ['building', 'catching_up', 'swapping', 'failed'].includes(projection.rebuild?.phase);
    if (isView || !unfinished) return null;
    const reason = disabledReason(session, 'rebuild');
    const button = h('button', { type: 'button', class: 'button', 'data-action': 'cancel-rebuild', disabled: reason !== null, title: reason ?? `Cancel the rebuild of ${projection.name}` }, 'Cancel rebuild');
    button.addEventListener('click', async () => {
      const body = [`Stops the rebuild of ${projection.name} (after the batch in hand) and drops its shadow tables. The live tables stay as they are and go on being served.`];
      if (!(await confirmAction({ title: `Cancel the rebuild of ${projection.name}?`, body, confirm: 'Cancel rebuild', danger: true }))) return;
      try {
        const result = await postAction(`/projections/${encodeURIComponent(projection.name)}/cancel-rebuild`);
        toast(result.cancelled ? `Rebuild of ${projection.name} cancelled` : `The rebuild of ${projection.name} had finished`);
        options.onChanged?.();
      } catch (error) {
        toast(error instanceof ApiError ? `${error.message}${error.hint ? ` — ${error.hint}` : ''}` : String(error), { error: true });
      }
    });
    return button;
  };

  const actions = isView
    ? [actionButton('refresh', 'Refresh', [`Re-runs the view's query over the events${projection.staleEvents ? ` (${formatNumber(projection.staleEvents)} events since the last refresh)` : ''}; concurrently, without blocking readers, when it has a unique index.`], false)]
    : [
        actionButton('rebuild', 'Rebuild', rebuildConfirmation(projection), true),
        actionButton('verify', 'Verify', [`Rebuilds ${projection.name} into a scratch copy and compares it with its live tables, row by row; nothing is changed.`], false),
        cancelRebuildButton(),
      ].filter((button) => button !== null);

  const lastEvent =
    projection.lastEventPosition === null
      ? h('span', { class: 'faint' }, 'none yet')
      : h('a', { class: 'mono', href: `#/events/${projection.lastEventPosition}` }, `#${projection.lastEventPosition}`);

  return h(
    'section',
    { class: 'panel projection', 'data-projection': projection.name, 'data-state': projection.state },
    h(
      'div',
      { class: 'panel-head' },
      h(
        'div',
        { class: 'title' },
        h('h2', {}, options.detailLink === false ? projection.name : h('a', { href: `#/projections/${encodeURIComponent(projection.name)}` }, projection.name)),
        h('span', { class: 'badge accent' }, isView ? 'materialized view' : 'trigger'),
        h('span', { class: 'badge', title: 'projection version' }, `v${projection.version}`),
        stateBadge(projection.state, projection.stateText),
      ),
      h('span', { class: 'hint' }, 'defined ', timeAgo(projection.definedAt)),
    ),
    h(
      'div',
      { class: 'panel-body facts' },
      isView
        ? fact('Refreshed', timeAgo(projection.lastRefreshedAt), projection.staleEvents ? h('span', { class: 'muted' }, ` · ${formatNumber(projection.staleEvents)} event${projection.staleEvents === 1 ? '' : 's'} behind`) : null)
        : fact('Handles', h('span', { class: 'chips' }, ...projection.handledTypes.map((/** @type {string} */ type) => h('span', { class: 'chip' }, type)))),
      fact(isView ? 'View' : 'Tables', ...(projection.tables.length ? projection.tables.map(tableLine) : [h('span', { class: 'faint' }, 'none')])),
      fact(isView ? 'Position at refresh' : 'Last event applied', lastEvent),
      isView ? null : fact('Built with', projection.builtVersion === null ? h('span', { class: 'faint' }, 'never built') : `v${projection.builtVersion}`, projection.fastPath ? h('span', { class: 'badge', title: 'rebuilds run its rebuild statement' }, 'fast path') : null),
      isView ? null : fact('Last rebuild', timeAgo(projection.lastRebuiltAt ?? projection.lastReplayedAt)),
      isView ? null : fact('Stream column', projection.streamColumn ? h('span', { class: 'mono' }, projection.streamColumn) : h('span', { class: 'faint' }, 'none')),
    ),
    progressOf(projection),
    h(
      'div',
      { class: 'actions' },
      ...actions,
      h('span', { class: 'spacer' }),
      options.detailLink === false ? null : h('a', { href: `#/projections/${encodeURIComponent(projection.name)}` }, 'Read model →'),
    ),
  );
}

/**
 * What to show under the facts: a job the console started (live), else an online rebuild in progress
 * or failed (wherever it was started).
 * @param {any} projection
 */
function progressOf(projection) {
  const activeRebuild = projection.rebuild && ['building', 'catching_up', 'swapping', 'failed'].includes(projection.rebuild.phase);
  if (projection.job?.state === 'running') return progressBar(projection.job);
  if (activeRebuild) return rebuildBar(projection.rebuild);
  return projection.job ? progressBar(projection.job) : null;
}

/**
 * Polls a running job (progress lives in the console's memory, so this never waits on the
 * database) until it ends.
 * @param {string} id
 * @param {(job: any) => void} onUpdate
 * @param {() => boolean} cancelled
 */
export async function followJob(id, onUpdate, cancelled) {
  for (;;) {
    if (cancelled()) return;
    let job;
    try {
      job = await getJson(`/jobs/${encodeURIComponent(id)}`);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (cancelled()) return;
    onUpdate(job);
    if (job.state !== 'running') return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
