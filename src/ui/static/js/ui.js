// @ts-check
// Shared pieces of the pages: dialogs, toasts, notices, pagers, progress bars.
import { getJson } from './api.js';
import { formatDuration, formatNumber, h, replaceChildren } from './dom.js';

/** @returns {HTMLDialogElement} */
function dialogElement() {
  return /** @type {HTMLDialogElement} */ (document.getElementById('dialog'));
}

/**
 * Asks before an action that changes state. Cancel has the focus; Escape cancels.
 * @param {{ title: string; body: (string | Node)[]; confirm: string; danger?: boolean }} options
 * @returns {Promise<boolean>}
 */
export function confirmAction(options) {
  const dialog = dialogElement();
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'button', 'data-action': 'cancel' }, 'Cancel');
    const confirm = h('button', { type: 'button', class: `button ${options.danger ? 'danger' : 'primary'}`, 'data-action': 'confirm' }, options.confirm);
    replaceChildren(
      dialog,
      h('div', { class: 'dialog-body' }, h('h2', { id: 'dialog-title' }, options.title), ...options.body.map((part) => (typeof part === 'string' ? h('p', {}, part) : part))),
      h('div', { class: 'dialog-actions' }, cancel, confirm),
    );
    let answered = false;
    const finish = (/** @type {boolean} */ answer) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    cancel.addEventListener('click', () => finish(false));
    confirm.addEventListener('click', () => finish(true));
    dialog.addEventListener('close', () => finish(false), { once: true });
    dialog.showModal();
    cancel.focus();
  });
}

/** The keyboard shortcuts. */
export function showShortcuts() {
  const dialog = dialogElement();
  const rows = [
    ['/', 'search streams'],
    ['g o', 'overview'],
    ['g s', 'streams'],
    ['g l', 'live feed'],
    ['g p', 'projections'],
    ['g u', 'subscriptions'],
    ['g m', 'metrics'],
    ['g e', 'erasures'],
    ['j / k', 'next / previous row or event'],
    ['Enter', 'open the selected row'],
    ['[ / ]', 'previous / next event in the log (event page)'],
    ['p', 'pause or resume the live feed'],
    ['?', 'this help'],
  ];
  const close = h('button', { type: 'button', class: 'button primary' }, 'Close');
  replaceChildren(
    dialog,
    h(
      'div',
      { class: 'dialog-body' },
      h('h2', { id: 'dialog-title' }, 'Keyboard shortcuts'),
      h('dl', { class: 'shortcuts' }, ...rows.flatMap(([keys, what]) => [h('dt', {}, ...(keys ?? '').split(' ').map((key) => h('kbd', {}, key))), h('dd', {}, what ?? '')])),
    ),
    h('div', { class: 'dialog-actions' }, close),
  );
  close.addEventListener('click', () => dialog.close());
  dialog.showModal();
  close.focus();
}

/**
 * @param {string} message
 * @param {{ error?: boolean }} [options]
 */
export function toast(message, options = {}) {
  const region = /** @type {HTMLElement} */ (document.getElementById('toasts'));
  const item = h('div', { class: `toast${options.error ? ' error' : ''}` }, message);
  region.appendChild(item);
  setTimeout(() => item.remove(), options.error ? 8000 : 4000);
}

/**
 * An error as a notice, with the server's hint.
 * @param {unknown} error
 */
export function errorNotice(error) {
  const message = error instanceof Error ? error.message : String(error);
  const hint = /** @type {{ hint?: string }} */ (error)?.hint;
  return h('div', { class: 'notice error', role: 'alert' }, h('div', {}, h('strong', {}, message), hint ? h('span', { class: 'hint' }, hint) : null));
}

/**
 * @param {string} title
 * @param {string} [text]
 */
export function emptyState(title, text) {
  return h('div', { class: 'empty' }, h('strong', {}, title), text ?? '');
}

/**
 * A "not available in this version" panel: no fake data.
 * @param {string} title
 * @param {string | null} missing
 */
export function unavailable(title, missing) {
  return h(
    'div',
    { class: 'panel unavailable', 'data-unavailable': '' },
    h('h2', {}, `${title}: not available in this version`),
    h('p', {}, 'This version of pgevents does not provide it, so the console shows nothing rather than guess.'),
    missing ? h('p', { class: 'mono' }, `Missing: ${missing}`) : null,
  );
}

/**
 * Previous / next page controls.
 * @param {{ from: number; to: number; total?: number | null; hasPrevious: boolean; hasNext: boolean; onPrevious: () => void; onNext: () => void; noun: string }} options
 */
export function pager(options) {
  const range = options.to >= options.from ? `${formatNumber(options.from)}–${formatNumber(options.to)}` : 'none';
  return h(
    'div',
    { class: 'pager' },
    h('span', {}, `${options.noun} ${range}${options.total !== undefined && options.total !== null ? ` of ${formatNumber(options.total)}` : ''}`),
    h(
      'span',
      { class: 'toolbar' },
      h('button', { type: 'button', class: 'button small', disabled: !options.hasPrevious, on: { click: options.onPrevious } }, '← Previous'),
      h('button', { type: 'button', class: 'button small', disabled: !options.hasNext, on: { click: options.onNext } }, 'Next →'),
    ),
  );
}

const STATE_STYLE = /** @type {Record<string, string>} */ ({
  live: 'ok',
  fresh: 'ok',
  succeeded: 'ok',
  caught_up: 'ok',
  stale: 'warn',
  lagging: 'warn',
  'needs rebuild': 'warn',
  rebuilding: 'info',
  verifying: 'info',
  refreshing: 'info',
  running: 'ok',
  stopped: '',
  failed: 'error',
  broken: 'error',
});

/**
 * @param {string} state
 * @param {string} [text]
 */
export function stateBadge(state, text) {
  return h('span', { class: `badge dot ${STATE_STYLE[state] ?? ''}`, 'data-state-badge': state }, (text ?? state).replace(/_/g, ' '));
}

const VERBS = /** @type {Record<string, string>} */ ({ rebuild: 'Rebuild', verify: 'Verify', refresh: 'Refresh', reset: 'Reset', skip: 'Skip' });

/**
 * A progress bar with counts, rate and time left.
 * @param {{ state: 'running' | 'succeeded' | 'failed'; status: string; percent: number; details: string }} progress
 */
function bar(progress) {
  const fill = h('div', { class: 'progress-fill' });
  fill.style.width = `${Math.max(0, Math.min(100, progress.percent)).toFixed(1)}%`;
  return h(
    'div',
    {
      class: `progress ${progress.state}`,
      'data-job-state': progress.state,
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.round(progress.percent),
      'aria-label': progress.status,
    },
    h('div', { class: 'progress-track' }, fill),
    h('div', { class: 'progress-text' }, h('span', { 'data-job-status': '' }, progress.status), h('span', {}, progress.details)),
  );
}

/**
 * @param {number | null} rate
 * @param {number | null} eta
 * @param {number} percent
 */
function rateText(rate, eta, percent) {
  return `${percent.toFixed(0)}% · ${rate ? `${formatNumber(Math.round(rate))} events/s` : '…'} · ETA ${formatDuration(eta)}`;
}

/**
 * The progress of a job the console started.
 * @param {any} job
 */
export function progressBar(job) {
  const total = job.total ?? 0;
  const percent = job.state === 'succeeded' ? 100 : total > 0 ? Math.min(100, (job.done / total) * 100) : 0;
  const verb = VERBS[job.kind] ?? job.kind;
  const phase = job.phase ? ` (${String(job.phase).replace(/_/g, ' ')})` : '';
  if (job.state === 'running') {
    return bar({
      state: 'running',
      percent,
      status: `${verb}${phase}: ${formatNumber(job.done)}${job.total !== null ? ` / ${formatNumber(job.total)}` : ''} events`,
      details: job.kind === 'rebuild' ? rateText(job.ratePerSecond, job.etaSeconds, percent) : 'working…',
    });
  }
  if (job.state === 'failed') {
    return bar({ state: 'failed', percent, status: `${verb} failed: ${job.error?.message ?? 'unknown error'}`, details: job.error?.hint ?? '' });
  }
  if (job.state === 'cancelled') {
    return bar({ state: 'failed', percent, status: `${verb} cancelled after ${formatNumber(job.done)} events`, details: 'the live tables are as they were' });
  }
  const seconds = job.finishedAt ? (new Date(job.finishedAt).getTime() - new Date(job.startedAt).getTime()) / 1000 : null;
  if (job.kind === 'verify') {
    const result = job.result ?? {};
    const tables = /** @type {any[]} */ (result.tables ?? []);
    const differences = tables
      .filter((table) => table.missing || table.extra || table.different)
      .map((table) => `${table.table}: ${table.missing} missing, ${table.extra} extra, ${table.different} different`);
    return bar({
      state: result.equal ? 'succeeded' : 'failed',
      percent: 100,
      status: result.equal ? `Verified: the tables equal a rebuild (${tables.map((table) => `${formatNumber(table.liveRows)} rows`).join(', ')})` : `Verify found differences — ${differences.join('; ')}`,
      details: `in ${formatDuration(seconds)}`,
    });
  }
  const count = job.kind === 'refresh' ? '' : `: ${formatNumber(job.done)} events`;
  return bar({ state: 'succeeded', percent: 100, status: `${verb} finished${count} in ${formatDuration(seconds)}`, details: '' });
}

/**
 * The progress of an online rebuild as the store records it (started here, from the CLI or SQL).
 * @param {any} rebuild
 */
export function rebuildBar(rebuild) {
  if (rebuild.phase === 'failed') {
    return bar({ state: 'failed', percent: rebuild.percent, status: `Rebuild failed: ${rebuild.error?.message ?? 'unknown error'}`, details: rebuild.error?.hint ?? 'the live tables are still served' });
  }
  const round = rebuild.round > 0 ? `, round ${rebuild.round}` : '';
  return bar({
    state: 'running',
    percent: rebuild.percent,
    status: `Rebuilding (${String(rebuild.phase).replace(/_/g, ' ')}${round}): ${formatNumber(rebuild.applied)} / ${formatNumber(rebuild.total)} events`,
    details: rateText(rebuild.eventsPerSecond, rebuild.etaSeconds, rebuild.percent),
  });
}

/**
 * j / k to move a selection through rows, Enter to open the selected one.
 * @param {() => HTMLElement[]} items
 * @param {(item: HTMLElement) => void} open
 * @returns {(event: KeyboardEvent) => boolean}
 */
export function listNavigator(items, open) {
  /** @type {HTMLElement | null} */
  let selected = null;
  /** @param {HTMLElement} a @param {HTMLElement} b */
  const sameItem = (a, b) => JSON.stringify({ ...a.dataset }) === JSON.stringify({ ...b.dataset });
  return (event) => {
    const all = items();
    if (all.length === 0) return false;
    // The list may have been drawn again since (results that arrived late): keep the selection on
    // the same item.
    if (selected && !selected.isConnected) {
      const previous = selected;
      selected = all.find((item) => sameItem(item, previous)) ?? null;
      selected?.classList.add('selected');
    }
    if (event.key === 'j' || event.key === 'k') {
      const index = selected ? all.indexOf(selected) : -1;
      const next = event.key === 'j' ? Math.min(all.length - 1, index + 1) : Math.max(0, index === -1 ? 0 : index - 1);
      selected?.classList.remove('selected');
      selected = all[next] ?? null;
      selected?.classList.add('selected');
      selected?.scrollIntoView({ block: 'nearest' });
      return true;
    }
    const active = document.activeElement;
    const idle = !active || active === document.body || active.id === 'main';
    if (event.key === 'Enter' && selected && idle && all.includes(selected)) {
      open(selected);
      return true;
    }
    return false;
  };
}

/**
 * Says why the action buttons are disabled when the connected role may only read.
 * @param {any} session
 */
export function readOnlyNotice(session) {
  if (!session?.readOnly) return null;
  return h(
    'div',
    { class: 'notice warn', 'data-read-only': '' },
    h(
      'div',
      {},
      h('strong', {}, `Connected as ${session.role}, a role that may only read.`),
      h('span', { class: 'hint' }, 'Rebuild, verify, refresh and subscription actions are disabled, and the console refuses them. Connect as the store owner to act.'),
    ),
  );
}

/**
 * Draws a page from GET /api<path> now and again every `everyMs` until stopped; a failed read
 * shows the error under the page's title (and is tried again).
 * @param {{ root: HTMLElement; path: string; title: string; everyMs: number; draw: (data: any) => void }} options
 * @returns {() => void} stop
 */
export function refreshEvery(options) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const refresh = async () => {
    try {
      const data = await getJson(options.path);
      if (stopped) return;
      options.draw(data);
    } catch (error) {
      if (stopped) return;
      replaceChildren(options.root, h('div', { class: 'page-head' }, h('h1', {}, options.title)), errorNotice(error));
    }
    if (!stopped) timer = setTimeout(refresh, options.everyMs);
  };
  void refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
