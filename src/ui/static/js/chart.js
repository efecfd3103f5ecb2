// @ts-check
// Appends per minute over the last hour, as an SVG bar chart.
import { formatNumber, h, svg } from './dom.js';

const WIDTH = 600;
const HEIGHT = 150;
const TOP = 10;
const BOTTOM = 20;
const LEFT = 34;

/** @param {number} max */
function niceCeiling(max) {
  if (max <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

/**
 * @param {{ start: string; counts: number[]; capped: boolean }} chart
 */
export function appendsChart(chart) {
  const max = niceCeiling(Math.max(...chart.counts, 0));
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = (WIDTH - LEFT) / chart.counts.length;
  const start = new Date(chart.start).getTime();
  const y = (/** @type {number} */ value) => TOP + plotHeight - (value / max) * plotHeight;

  const parts = [];
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    parts.push(svg('line', { class: 'grid-line', x1: LEFT, x2: WIDTH, y1: y(value), y2: y(value) }));
    parts.push(svg('text', { class: 'axis', x: LEFT - 6, y: y(value) + 3, 'text-anchor': 'end' }, formatNumber(value)));
  }
  chart.counts.forEach((count, index) => {
    const minute = new Date(start + index * 60_000);
    const label = `${minute.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })}: ${formatNumber(count)} event${count === 1 ? '' : 's'}`;
    const height = count === 0 ? 1.5 : Math.max(2, (count / max) * plotHeight);
    parts.push(
      svg(
        'rect',
        { class: count === 0 ? 'bar zero' : 'bar', x: LEFT + index * slot + 1, y: TOP + plotHeight - height, width: Math.max(1, slot - 2), height, rx: 1.5 },
        svg('title', {}, label),
      ),
    );
  });
  for (const minutesAgo of [60, 45, 30, 15, 0]) {
    const index = chart.counts.length - 1 - minutesAgo;
    const x = LEFT + Math.max(0, index) * slot + slot / 2;
    parts.push(svg('text', { class: 'axis', x, y: HEIGHT - 5, 'text-anchor': minutesAgo === 60 ? 'start' : minutesAgo === 0 ? 'end' : 'middle' }, minutesAgo === 0 ? 'now' : `−${minutesAgo} min`));
  }
  const total = chart.counts.reduce((sum, count) => sum + count, 0);
  const element = svg('svg', { class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': `${total} events appended in the last hour` }, ...parts);
  const peak = Math.max(...chart.counts, 0);
  return h(
    'div',
    {},
    element,
    h(
      'div',
      { class: 'legend' },
      h('span', {}, `${formatNumber(total)} events in the last hour${chart.capped ? ' (only the newest 100,000 counted)' : ''}`),
      h('span', {}, `peak ${formatNumber(peak)}/min`),
    ),
  );
}
