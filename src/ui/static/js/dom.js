// @ts-check
// DOM helpers. Data only ever reaches the page as text nodes and attribute values: nothing here
// parses HTML, so an event body holding markup is shown as the characters it is.

/** @typedef {string | number | Node | null | undefined | false} Child */

/**
 * Creates an element. Attributes are set with setAttribute (event handler attributes are refused;
 * use `on`), children that are strings become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined | Record<string, (event: any) => unknown>>} [attributes]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'on') continue;
    if (/^on/i.test(name)) throw new Error(`h(): use "on" for event handlers, not the ${name} attribute`);
    if (value === null || value === undefined || value === false || typeof value === 'object') continue;
    if (name === 'href' && typeof value === 'string' && !/^(#|\/|https?:)/.test(value)) {
      throw new Error(`h(): refusing href ${value}`);
    }
    element.setAttribute(name, value === true ? '' : String(value));
  }
  const listeners = /** @type {Record<string, (event: any) => unknown>} */ (attributes.on ?? {});
  for (const [event, listener] of Object.entries(listeners)) element.addEventListener(event, listener);
  append(element, children);
  return element;
}

/**
 * @param {Node} parent
 * @param {(Child | Child[])[]} children
 */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/**
 * Replaces an element's children.
 * @param {Element} element
 * @param {...(Child | Child[])} children
 */
export function replaceChildren(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/**
 * An SVG element (for the chart).
 * @param {string} tag
 * @param {Record<string, string | number>} [attributes]
 * @param {...(SVGElement | string)} children
 * @returns {SVGElement}
 */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  return /** @type {SVGElement} */ (element);
}

const numberFormat = new Intl.NumberFormat();

/** @param {number | null | undefined} value */
export function formatNumber(value) {
  return value === null || value === undefined ? '–' : numberFormat.format(value);
}

/** @param {string | null | undefined} iso */
export function formatTime(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** @param {string} iso */
export function formatClock(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** @param {string | null | undefined} iso */
export function formatAgo(iso) {
  if (!iso) return '–';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

/** @param {number | null | undefined} seconds */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return '< 1 s';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * A time element: relative text, the exact time on hover.
 * @param {string | null | undefined} iso
 */
export function timeAgo(iso) {
  if (!iso) return h('span', { class: 'faint' }, '–');
  return h('time', { datetime: iso, title: formatTime(iso) }, formatAgo(iso));
}

/** @param {string} stream */
export function shortStream(stream) {
  return `${stream.slice(0, 8)}…`;
}

/**
 * A hash route with query parameters (empty ones left out).
 * @param {string} path
 * @param {Record<string, string | number | null | undefined>} [query]
 */
export function route(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== null && value !== undefined && value !== '') params.set(name, String(value));
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

/** @param {string} text */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** @param {KeyboardEvent} event */
export function isTyping(event) {
  const target = /** @type {HTMLElement | null} */ (event.target);
  if (!target) return false;
  return target.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName);
}
