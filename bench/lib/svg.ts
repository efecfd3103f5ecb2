/**
 * A hand-written SVG bar chart of the ratios: for every mode, each system's median throughput
 * divided by the mode's baseline (raw INSERT for the append and bulk modes, the seed's design for
 * replay and rebuild), with min–max whiskers. No dependencies, no browser.
 */
import { fmtRate, fmtRatio } from './format.js';
import { modeTitle } from './output.js';
import type { BenchResults } from './results.js';
import { MODES, type ModeId } from './types.js';

const COLORS: Record<string, string> = {
  raw: '#9e9e9e',
  seed: '#8d6e63',
  pgevents_insert: '#1565c0',
  pgevents_append: '#1e88e5',
  pgevents_api: '#64b5f6',
  pgevents_embedded: '#26a69a',
  emmett: '#fbc02d',
  emmett_inline: '#ef6c00',
  messagedb: '#8e24aa',
};
const FALLBACK = ['#5c6bc0', '#26c6da', '#d4e157', '#ec407a'];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function baselineOf(results: BenchResults, mode: ModeId): { id: string; label: string } | null {
  const row = results.cells[mode] ?? {};
  for (const id of ['raw', 'seed']) {
    if (row[id]?.kind === 'measured') return { id, label: results.systems.find((s) => s.id === id)?.label ?? id };
  }
  return null;
}

export function ratioChart(results: BenchResults): string {
  const W = 980;
  const labelX = 250;
  const plotX0 = 260;
  const plotX1 = W - 150;
  const barH = 13;
  const barGap = 4;
  const groupGap = 20;
  const headerH = 18;
  const top = 80;

  interface Bar { id: string; label: string; ratio: number; lo: number; hi: number; median: number; baseline: boolean; }
  interface Group { mode: ModeId; title: string; baseline: string; bars: Bar[]; }
  const groups: Group[] = [];
  for (const mode of MODES) {
    const row = results.cells[mode];
    if (!row) continue;
    const base = baselineOf(results, mode);
    if (!base) continue;
    const baseCell = row[base.id];
    if (baseCell?.kind !== 'measured') continue;
    const b = baseCell.summary.median;
    const bars: Bar[] = [];
    for (const s of results.systems) {
      const c = row[s.id];
      if (c?.kind !== 'measured') continue;
      bars.push({
        id: s.id,
        label: s.label,
        ratio: c.summary.median / b,
        lo: c.summary.min / b,
        hi: c.summary.max / b,
        median: c.summary.median,
        baseline: s.id === base.id,
      });
    }
    groups.push({ mode, title: modeTitle(results, mode), baseline: base.label, bars });
  }

  const finite = groups.flatMap((g) => g.bars.map((b) => b.hi)).filter((v) => v <= 3);
  const maxRatio = Math.max(1.5, Math.ceil(Math.max(1, ...finite) * 2) / 2);
  const x = (r: number) => plotX0 + (Math.min(r, maxRatio) / maxRatio) * (plotX1 - plotX0);

  const height = top + groups.reduce((h, g) => h + headerH + g.bars.length * (barH + barGap) + groupGap, 0) + 30;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="16" y="24" font-size="16" font-weight="bold">pgevents benchmark: throughput relative to the mode's baseline (= 1)</text>`,
  );
  const machine = `${results.machine.cpus} cores shared by client and server, load average median ${results.load.median.toFixed(1)}, PostgreSQL ${String(results.server.version).split(' ')[1] ?? ''}, ${results.startedAt.slice(0, 10)}${results.quick ? ' (quick run)' : ''}`;
  parts.push(
    `<text x="16" y="42" fill="#555">bars: median of the runs; whiskers: min–max; = 1: raw INSERT for the appends and COPY, the seed's design for replay and rebuild</text>`,
  );
  parts.push(`<text x="16" y="58" fill="#555">${esc(machine)}</text>`);

  // grid
  const gridBottom = height - 30;
  for (let t = 0; t <= maxRatio + 1e-9; t += 0.5) {
    const gx = x(t);
    parts.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${gridBottom}" stroke="${t === 1 ? '#333' : '#e0e0e0'}" stroke-width="1"${t === 1 ? ' stroke-dasharray="4 3"' : ''}/>`);
    parts.push(`<text x="${gx}" y="${gridBottom + 16}" text-anchor="middle" fill="#555">${t.toFixed(1)}×</text>`);
  }

  let y = top;
  for (const g of groups) {
    parts.push(`<text x="16" y="${y + 12}" font-weight="bold">${esc(g.title)}</text>`);
    parts.push(`<text x="${plotX1 + 8}" y="${y + 12}" fill="#777" font-size="11">= 1: ${esc(g.baseline)}</text>`);
    y += headerH;
    for (const bar of g.bars) {
      const color = COLORS[bar.id] ?? FALLBACK[bar.id.length % FALLBACK.length]!;
      const w = Math.max(1, x(bar.ratio) - plotX0);
      parts.push(`<text x="${labelX}" y="${y + barH - 2}" text-anchor="end" fill="#333">${esc(bar.label)}</text>`);
      parts.push(`<rect x="${plotX0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"${bar.baseline ? ' fill-opacity="0.6"' : ''}/>`);
      if (bar.hi > bar.lo) {
        const cy = y + barH / 2;
        const lx = x(bar.lo);
        const hx = x(bar.hi);
        parts.push(`<line x1="${lx.toFixed(1)}" y1="${cy}" x2="${hx.toFixed(1)}" y2="${cy}" stroke="#222" stroke-width="1"/>`);
        parts.push(`<line x1="${lx.toFixed(1)}" y1="${cy - 4}" x2="${lx.toFixed(1)}" y2="${cy + 4}" stroke="#222" stroke-width="1"/>`);
        if (bar.hi <= maxRatio) parts.push(`<line x1="${hx.toFixed(1)}" y1="${cy - 4}" x2="${hx.toFixed(1)}" y2="${cy + 4}" stroke="#222" stroke-width="1"/>`);
      }
      if (bar.ratio > maxRatio) {
        parts.push(`<path d="M ${plotX1} ${y} l 8 ${barH / 2} l -8 ${barH / 2} z" fill="${color}"/>`);
      }
      const textX = Math.min(x(Math.max(bar.ratio, bar.hi)), plotX1) + (bar.ratio > maxRatio ? 14 : 6);
      parts.push(
        `<text x="${textX.toFixed(1)}" y="${y + barH - 2}" fill="#222">${fmtRatio(bar.ratio)} <tspan fill="#777">${fmtRate(bar.median)}/s</tspan></text>`,
      );
      y += barH + barGap;
    }
    y += groupGap;
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
