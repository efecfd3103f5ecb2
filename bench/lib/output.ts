/** The results as a console table, as Markdown for bench/README.md, and as JSON. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandSummary } from './commands.js';
import { tenantSummary } from './tenants.js';
import { fmtCount, fmtRate, fmtRatio } from './format.js';
import type { BenchResults, Cell } from './results.js';
import { MODE_INFO, MODES, type ModeId } from './types.js';

const SHORT: Record<ModeId, string> = {
  seq1: '1/tx, sequential',
  conc8: '1/tx, 8 connections',
  batch100: '100/tx',
  bulk: 'COPY',
  replay: 'replay',
  rebuild: 'set-based rebuild',
  growth: 'growth',
};

function modeEvents(results: BenchResults, mode: ModeId): number | undefined {
  return results.modes.find((m) => m.id === mode)?.events;
}

export function modeTitle(results: BenchResults, mode: ModeId, short = false): string {
  const events = modeEvents(results, mode);
  const base = short ? SHORT[mode] : MODE_INFO[mode].title;
  if (events === undefined) return base;
  return short ? `${base} ${fmtCount(events)}` : `${base} of ${fmtCount(events)} events`;
}

function cellText(cell: Cell | undefined): string {
  if (!cell) return '';
  if (cell.kind === 'measured') return fmtRate(cell.summary.median);
  if (cell.kind === 'unsupported') return '–';
  return 'ERROR';
}

function cpuText(cell: Cell | undefined, embedded = false): string {
  if (cell?.kind !== 'measured' || !cell.cpu) return cellText(cell);
  const server = embedded ? 'in-process' : cell.cpu.server == null ? '?' : Math.round(cell.cpu.server).toString();
  return `${server} / ${Math.round(cell.cpu.client)}`;
}

function measuredModes(results: BenchResults): ModeId[] {
  return MODES.filter((m) => results.cells[m] !== undefined);
}

function activeSystems(results: BenchResults) {
  return results.systems.filter((s) => !s.unavailable);
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  '))
    .join('\n');
}

/** The console summary: medians, spread, ratios, goals. */
export function consoleReport(results: BenchResults): string {
  const systems = activeSystems(results);
  const modes = measuredModes(results);
  const out: string[] = [];
  out.push(`events/s, median of runs (- = not applicable); load average during the run: median ${results.load.median.toFixed(1)}, max ${results.load.max.toFixed(1)}`);
  out.push(
    pad([
      ['mode', ...systems.map((s) => s.label)],
      ...modes.map((m) => [modeTitle(results, m, true), ...systems.map((s) => cellText(results.cells[m]?.[s.id]))]),
    ]),
  );
  out.push('');
  out.push('spread of runs: min-max (runs)');
  out.push(
    pad([
      ['mode', ...systems.map((s) => s.label)],
      ...modes.map((m) => [
        modeTitle(results, m, true),
        ...systems.map((s) => {
          const c = results.cells[m]?.[s.id];
          return c?.kind === 'measured' ? `${fmtRate(c.summary.min)}-${fmtRate(c.summary.max)} (${c.summary.n})` : cellText(c);
        }),
      ]),
    ]),
  );
  out.push('');
  out.push('CPU per event, microseconds (median of runs): server backends / this Node process');
  out.push(
    pad([
      ['mode', ...systems.map((s) => s.label)],
      ...modes.filter((m) => MODE_INFO[m].batchSize !== undefined).map((m) => [
        modeTitle(results, m, true),
        ...systems.map((s) => cpuText(results.cells[m]?.[s.id], s.embedded)),
      ]),
    ]),
  );
  out.push('');
  out.push('ratios of medians, same run: x raw INSERT / x seed triggers');
  out.push(
    pad([
      ['mode', ...systems.map((s) => s.label)],
      ...modes.map((m) => [
        modeTitle(results, m, true),
        ...systems.map((s) => {
          const r = results.ratios[m]?.[s.id];
          if (!r || results.cells[m]?.[s.id]?.kind !== 'measured') return cellText(results.cells[m]?.[s.id]);
          return `${fmtRatio(r.vsRaw)} / ${fmtRatio(r.vsSeed)}`;
        }),
      ]),
    ]),
  );
  if (results.commands) {
    out.push('');
    out.push(...commandSummary(results.commands).map((line) => `commands (server): ${line}`));
  }
  if (results.tenants) {
    out.push('');
    out.push(...tenantSummary(results.tenants).map((line) => `tenants (server): ${line}`));
  }
  for (const r of results.subscriptions ?? []) {
    out.push('');
    out.push(
      `subscriptions (${r.engine}): catch-up ${fmtRate(r.catchUp.rate)} events/s over ${r.catchUp.events} events; live delivery p50 ${r.live.p50Ms.toFixed(2)} ms, p99 ${r.live.p99Ms.toFixed(2)} ms, max ${r.live.maxMs.toFixed(1)} ms (${r.live.events} appends)`,
    );
  }
  if (results.goals.length > 0) {
    out.push('');
    out.push('goals (issue 13)' + (results.quick ? ' — quick run: sizes too small to mean anything' : ''));
    for (const g of results.goals) out.push(`  [${g.met == null ? '?' : g.met ? 'met' : 'MISSED'}] ${g.text}: ${g.detail}`);
  }
  const notes = reasons(results);
  if (notes.length > 0) {
    out.push('');
    out.push('not applicable / errors:');
    for (const n of notes) out.push(`  ${n}`);
  }
  return out.join('\n');
}

function reasons(results: BenchResults): string[] {
  const out: string[] = [];
  for (const s of results.systems) if (s.unavailable) out.push(`${s.label}: left out: ${s.unavailable}`);
  for (const m of measuredModes(results)) {
    for (const s of activeSystems(results)) {
      const c = results.cells[m]?.[s.id];
      if (c?.kind === 'unsupported') out.push(`${s.label}, ${SHORT[m]}: ${c.reason}`);
      if (c?.kind === 'error') out.push(`${s.label}, ${SHORT[m]}: ERROR ${c.message}`);
      if (c?.kind === 'measured' && c.note) out.push(`${s.label}, ${SHORT[m]}: ${c.note}`);
    }
  }
  return out;
}

/** Markdown: the machine, the medians with min–max, the ratios, the CPU, the goals and the notes. */
export function markdownReport(results: BenchResults): string {
  const systems = activeSystems(results);
  const modes = measuredModes(results);
  const out: string[] = [];
  const m = results.machine;
  const settings = Object.entries(results.server.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  out.push(
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, Node.js ${m.node}; ${results.server.version.split(' on ')[0]} on the same machine (${settings}). pgevents at commit ${m.commit}. Results: \`bench/results/${results.startedAt.slice(0, 10)}.json\`.`,
  );
  out.push('');
  out.push('![ratios to the baseline of each mode](results/latest.svg)');
  out.push('');
  const header = (first: string) => [
    `| ${first} | ${systems.map((s) => s.label).join(' | ')} |`,
    `| --- | ${systems.map(() => '---:').join(' | ')} |`,
  ];
  out.push(
    `Events/s, median of the runs, with min–max below (${results.quick ? 'quick run' : 'full run'} of ${results.startedAt.slice(0, 10)}, ${results.durationSeconds} s; 1-minute load average during the run: median ${results.load.median.toFixed(1)}, max ${results.load.max.toFixed(1)} on ${results.machine.cpus} cores).`,
  );
  out.push('');
  out.push(...header('mode'));
  for (const m of modes) {
    const cells = systems.map((s) => {
      const c = results.cells[m]?.[s.id];
      if (c?.kind === 'measured') {
        const range = c.summary.n > 1 ? `<br><sub>${fmtRate(c.summary.min)}–${fmtRate(c.summary.max)}</sub>` : '<br><sub>1 run</sub>';
        return `**${fmtRate(c.summary.median)}**${range}`;
      }
      return cellText(c);
    });
    out.push(`| ${modeTitle(results, m)} | ${cells.join(' | ')} |`);
  }
  out.push('');
  out.push('Ratios of the medians within this run: × raw INSERT / × seed triggers.');
  out.push('');
  out.push(...header('mode'));
  for (const m of modes) {
    const cells = systems.map((s) => {
      const r = results.ratios[m]?.[s.id];
      if (!r || results.cells[m]?.[s.id]?.kind !== 'measured') return cellText(results.cells[m]?.[s.id]);
      return `${fmtRatio(r.vsRaw)} / ${fmtRatio(r.vsSeed)}`;
    });
    out.push(`| ${SHORT[m]} | ${cells.join(' | ')} |`);
  }
  out.push('');
  out.push(
    'CPU per event in µs, median of the runs: PostgreSQL backends of the system / the Node.js client process (less disturbed by other load on the machine than events/s; `?` = not readable).',
  );
  out.push('');
  out.push(...header('mode'));
  for (const m of modes.filter((mode) => MODE_INFO[mode].batchSize !== undefined)) {
    out.push(`| ${SHORT[m]} | ${systems.map((s) => cpuText(results.cells[m]?.[s.id], s.embedded)).join(' | ')} |`);
  }
  if (results.subscriptions?.length) {
    out.push('');
    out.push(
      'pgevents subscriptions (TypeScript API): a new subscription catching up with stored events, and the time from the `append` call to the live subscription\'s handler, for appends of one event one after the other.',
    );
    out.push('');
    out.push('| engine | catch-up, events/s | live delivery p50 | p99 | max |');
    out.push('| --- | ---: | ---: | ---: | ---: |');
    for (const r of results.subscriptions) {
      out.push(
        `| ${r.engine} | **${fmtRate(r.catchUp.rate)}** (${r.catchUp.events.toLocaleString('en-US')} events) | ${r.live.p50Ms.toFixed(2)} ms | ${r.live.p99Ms.toFixed(2)} ms | ${r.live.maxMs.toFixed(1)} ms (${r.live.events} appends) |`,
      );
    }
  }
  if (results.commands) {
    out.push('');
    out.push(
      `Commands and snapshots (issue 14, server, TypeScript API; ${results.commands.seconds} s per measurement): \`store.handle\` folds a 10-event stream, decides and appends one event with the folded version; \`store.append\` writes the same event without reading.`,
    );
    out.push('');
    for (const line of commandSummary(results.commands)) out.push(`- ${line}`);
  }
  if (results.tenants) {
    out.push('');
    out.push(
      `Tenant stores (issue 16, server, TypeScript API): ${results.tenants.tenants.toLocaleString('en-US')} schemas of one database created, migrated and listed as \`pgevents tenants\` does.`,
    );
    out.push('');
    for (const line of tenantSummary(results.tenants)) out.push(`- ${line}`);
  }
  if (results.goals.length > 0) {
    out.push('');
    out.push('Goals of issue 13 (and the replay and rebuild goals of issue 3):');
    out.push('');
    for (const g of results.goals) out.push(`- ${g.met == null ? '❔' : g.met ? '✅' : '❌'} ${g.text}: ${g.detail}`);
  }
  const notes = reasons(results);
  if (notes.length > 0) {
    out.push('');
    out.push('Not applicable (–) and notes:');
    out.push('');
    for (const n of notes) out.push(`- ${n}`);
  }
  return out.join('\n');
}

/** Writes `<date><suffix>.json` into `dir` (a growth-only run: suffix `-growth`, beside the full run's file). */
export function writeJson(results: BenchResults, dir: string, suffix = ''): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${results.startedAt.slice(0, 10)}${suffix}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  return file;
}

/**
 * Replace a marked section of a README (`<!-- bench:<section>:start -->` … `<!-- bench:<section>:end -->`);
 * returns false when it has no such markers.
 */
export function updateReadme(file: string, markdown: string, section: 'results' | 'growth' | 'replica' | 'partitioned' = 'results'): boolean {
  const START = `<!-- bench:${section}:start -->`;
  const END = `<!-- bench:${section}:end -->`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return false;
  writeFileSync(file, `${text.slice(0, a + START.length)}\n${markdown}\n${text.slice(b)}`);
  return true;
}
