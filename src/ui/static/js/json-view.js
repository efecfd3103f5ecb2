// @ts-check
// A collapsible JSON tree. Every key and value is set as text (never parsed as HTML).
import { copyText, h } from './dom.js';

/**
 * @param {unknown} value
 * @returns {HTMLElement}
 */
function scalar(value) {
  if (typeof value === 'string') return h('span', { class: 'string' }, JSON.stringify(value));
  if (typeof value === 'number') return h('span', { class: 'number' }, String(value));
  return h('span', { class: 'literal' }, JSON.stringify(value) ?? 'undefined');
}

/**
 * @param {unknown} value
 * @param {number} depth
 * @param {number} openDepth
 * @param {Node | null} label
 * @param {boolean} last
 * @returns {HTMLElement}
 */
function node(value, depth, openDepth, label, last) {
  const comma = last ? null : h('span', { class: 'punct' }, ',');
  if (value === null || typeof value !== 'object') {
    return h('span', {}, label, scalar(value), comma);
  }
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((item, index) => /** @type {[string, unknown]} */ ([String(index), item])) : Object.entries(value);
  const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return h('span', {}, label, h('span', { class: 'punct' }, `${open}${close}`), comma);
  const list = h('ul', {});
  entries.forEach(([key, item], index) => {
    const keyLabel = isArray ? null : h('span', {}, h('span', { class: 'key' }, JSON.stringify(key)), h('span', { class: 'punct' }, ': '));
    list.appendChild(h('li', {}, node(item, depth + 1, openDepth, keyLabel, index === entries.length - 1)));
  });
  const count = `${entries.length} ${isArray ? (entries.length === 1 ? 'item' : 'items') : entries.length === 1 ? 'key' : 'keys'}`;
  const details = h(
    'details',
    { open: depth < openDepth },
    h('summary', {}, label, h('span', { class: 'punct' }, open), h('span', { class: 'count' }, `${count} ${close}`)),
    list,
    h('span', { class: 'punct' }, close),
    comma,
  );
  return details;
}

/**
 * A JSON value as a tree: objects and arrays fold, the first levels open.
 * @param {unknown} value
 * @param {{ openDepth?: number; label?: string; tools?: boolean }} [options]
 */
export function jsonView(value, options = {}) {
  const openDepth = options.openDepth ?? 2;
  const tree = h('div', { class: 'json', 'data-json': '' }, node(value, 0, openDepth, null, true));
  if (options.tools === false) return tree;
  const setAll = (/** @type {boolean} */ open) => {
    for (const details of tree.querySelectorAll('details')) details.open = open;
  };
  const tools = h(
    'span',
    { class: 'json-tools' },
    h('button', { type: 'button', class: 'button ghost small', title: 'Expand all', on: { click: () => setAll(true) } }, 'Expand'),
    h('button', { type: 'button', class: 'button ghost small', title: 'Collapse all', on: { click: () => setAll(false) } }, 'Collapse'),
    h(
      'button',
      {
        type: 'button',
        class: 'button ghost small',
        title: 'Copy as JSON',
        on: {
          click: async (event) => {
            const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
            button.textContent = (await copyText(JSON.stringify(value, null, 2))) ? 'Copied' : 'Copy failed';
            setTimeout(() => (button.textContent = 'Copy'), 1500);
          },
        },
      },
      'Copy',
    ),
  );
  return h('div', {}, h('div', { class: 'section-label' }, options.label ?? '', h('span', { class: 'spacer' }), tools), tree);
}

/**
 * One line of JSON for previews, cut at `max` characters.
 * @param {unknown} value
 * @param {number} [max]
 */
export function jsonPreview(value, max = 160) {
  const text = JSON.stringify(value) ?? '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
