/** The growth mode's results: ratios to the smallest store, and its tables for the console and README. */
import { fmtCount, fmtRate, fmtRatio } from './format.js';
import type { GrowthStore, GrowthTimed } from './growth.js';
import type { Cell } from './results.js';
import { ratio } from './stats.js';

/** Each store against the smallest one measured (the empty store by default), same run. */
export interface GrowthRatios {
  size: number;
  /** Append throughput: events/s here / events/s there (issue 13: ≥ 0.9). */
  appendSeq1: number | null;
  appendConc8: number | null;
  /** Server CPU per appended event here / there, sequential (less disturbed by other load than events/s). */
  appendCpuSeq1: number | null;
  /** readStream p99 here / there (flat: about 1). */
  readP99: number | null;
  /** Catch-up events/s here / there (flat: about 1). */
  catchUp: number | null;
  /** Replay and rebuild µs per event here / there (linear in events: about 1). */
  replayPerEvent: number | null;
  rebuildPerEvent: number | null;
}

export interface GrowthReport {
  /** Size of the store the ratios divide by. */
  baseline: number;
  stores: GrowthStore[];
  ratios: GrowthRatios[];
}

/** The append throughput issue 13 asks of a full store, as a fraction of the empty store's. */
export const APPEND_GOAL = 0.9;

function median(cell: Cell | undefined): number | null {
  return cell?.kind === 'measured' ? cell.summary.median : null;
}

function serverCpu(cell: Cell | undefined): number | null {
  return cell?.kind === 'measured' ? (cell.cpu?.server ?? null) : null;
}

export function microsPerEvent(t: GrowthTimed | null): number | null {
  return t && t.events > 0 ? (t.seconds * 1e6) / t.events : null;
}

function rate(t: GrowthTimed | null): number | null {
  return t && t.seconds > 0 ? t.events / t.seconds : null;
}

export function growthReport(stores: GrowthStore[]): GrowthReport {
  const base = stores[0];
  const ratios = stores.map((s) => ({
    size: s.size,
    appendSeq1: ratio(median(s.append?.seq1), median(base?.append?.seq1)),
    appendConc8: ratio(median(s.append?.conc8), median(base?.append?.conc8)),
    appendCpuSeq1: ratio(serverCpu(s.append?.seq1), serverCpu(base?.append?.seq1)),
    readP99: ratio(s.readStream?.p99Ms, base?.readStream?.p99Ms),
    catchUp: ratio(rate(s.catchUp), rate(base?.catchUp ?? null)),
    replayPerEvent: ratio(microsPerEvent(s.replay), microsPerEvent(base?.replay ?? null)),
    rebuildPerEvent: ratio(microsPerEvent(s.rebuild), microsPerEvent(base?.rebuild ?? null)),
  }));
  return { baseline: base?.size ?? 0, stores, ratios };
}

const DASH = '–';

function perEventBytes(bytes: number | undefined, events: number): string {
  return bytes === undefined || events === 0 ? DASH : (bytes / events).toFixed(1);
}

function ms(n: number): string {
  return n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function appendText(cell: Cell | undefined): string {
  if (!cell) return DASH;
  return cell.kind === 'measured' ? fmtRate(cell.summary.median) : 'ERROR';
}

function cpuText(cell: Cell | undefined): string {
  const cpu = serverCpu(cell);
  return cpu === null ? '?' : Math.round(cpu).toString();
}

function fillText(s: GrowthStore): string {
  if (!s.fill) return s.errors.length > 0 ? 'ERROR' : DASH;
  if (s.size === 0) return DASH;
  return `${s.fill.seconds.toFixed(1)} s + ${s.fill.vacuumSeconds.toFixed(1)} s`;
}

function timedText(t: GrowthTimed | null): string {
  const us = microsPerEvent(t);
  return us === null || !t ? DASH : `${us.toFixed(2)} (${fmtCount(t.events)} in ${t.seconds.toFixed(1)} s)`;
}

function indexNames(stores: GrowthStore[]): string[] {
  return [...new Set(stores.flatMap((s) => Object.keys(s.bytes?.index ?? {})))].sort();
}

/** Rows of the main table: one per store. */
function mainRows(report: GrowthReport): string[][] {
  return [
    [
      'events stored',
      'fill + VACUUM',
      'append 1/tx seq, ev/s',
      'append 1/tx 8 conn, ev/s',
      'server CPU µs/append seq / 8 conn',
      'readStream p50 / p99 ms',
      'catch-up ev/s',
      'replay µs/event',
      'rebuild µs/event',
      'table B/event',
      'indexes B/event',
    ],
    ...report.stores.map((s) => [
      fmtCount(s.size),
      fillText(s),
      appendText(s.append?.seq1),
      appendText(s.append?.conc8),
      `${cpuText(s.append?.seq1)} / ${cpuText(s.append?.conc8)}`,
      s.readStream ? `${ms(s.readStream.p50Ms)} / ${ms(s.readStream.p99Ms)}` : DASH,
      s.catchUp ? `${fmtRate(rate(s.catchUp)!)} (${fmtCount(s.catchUp.events)})` : DASH,
      timedText(s.replay),
      timedText(s.rebuild),
      perEventBytes(s.bytes?.table, s.size),
      perEventBytes(s.bytes?.indexes, s.size),
    ]),
  ];
}

function ratioRows(report: GrowthReport): string[][] {
  return [
    ['events stored', 'append 1/tx seq', 'append 1/tx 8 conn', 'server CPU/append seq', 'readStream p99', 'catch-up ev/s', 'replay µs/event', 'rebuild µs/event'],
    ...report.ratios.map((r) => [
      fmtCount(r.size),
      fmtRatio(r.appendSeq1),
      fmtRatio(r.appendConc8),
      fmtRatio(r.appendCpuSeq1),
      fmtRatio(r.readP99),
      fmtRatio(r.catchUp),
      fmtRatio(r.replayPerEvent),
      fmtRatio(r.rebuildPerEvent),
    ]),
  ];
}

function indexRows(report: GrowthReport): string[][] {
  const names = indexNames(report.stores);
  const filled = report.stores.filter((s) => s.size > 0 && s.bytes);
  return [
    ['relation', ...filled.map((s) => fmtCount(s.size))],
    ['events (table)', ...filled.map((s) => perEventBytes(s.bytes?.table, s.size))],
    ...names.map((n) => [n, ...filled.map((s) => perEventBytes(s.bytes?.index[n], s.size))]),
    ['all indexes', ...filled.map((s) => perEventBytes(s.bytes?.indexes, s.size))],
    ['streams (table + key)', ...filled.map((s) => perEventBytes(s.bytes?.streams, s.size))],
  ];
}

/** The one numeric goal, per append mode and store. */
export function growthGoals(report: GrowthReport): { text: string; met: boolean | null }[] {
  const out: { text: string; met: boolean | null }[] = [];
  for (const r of report.ratios.slice(1)) {
    for (const [mode, value] of [['sequential', r.appendSeq1], ['8 connections', r.appendConc8]] as const) {
      out.push({
        text: `append 1/tx ${mode} in a ${fmtCount(r.size)}-event store ≥ ${APPEND_GOAL}× the ${fmtCount(report.baseline)}-event store's: ${fmtRatio(value)}`,
        met: value === null ? null : value >= APPEND_GOAL,
      });
    }
  }
  return out;
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ')).join('\n');
}

function markdownTable(rows: string[][]): string[] {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `| --- | ${head!.slice(1).map(() => '---:').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)];
}

function errors(report: GrowthReport): string[] {
  return report.stores.flatMap((s) => s.errors);
}

export function growthConsole(report: GrowthReport): string {
  const out: string[] = [];
  out.push('growth: pgevents append_events, readStream, subscription catch-up, replay and online rebuild in stores already holding N events');
  out.push(pad(mainRows(report)));
  out.push('');
  out.push(`ratios to the ${fmtCount(report.baseline)}-event store, same run (throughput: higher is better; p99 and µs/event: lower is better; flat = 1.00×)`);
  out.push(pad(ratioRows(report)));
  if (report.stores.some((s) => s.size > 0 && s.bytes)) {
    out.push('');
    out.push('bytes per event after the fill and VACUUM ANALYZE');
    out.push(pad(indexRows(report)));
  }
  const goals = growthGoals(report);
  if (goals.length > 0) {
    out.push('');
    out.push('goal (issue 13)');
    for (const g of goals) out.push(`  [${g.met == null ? '?' : g.met ? 'met' : 'MISSED'}] ${g.text}`);
  }
  const problems = errors(report);
  if (problems.length > 0) {
    out.push('');
    out.push('growth errors:');
    for (const p of problems) out.push(`  ${p}`);
  }
  return out.join('\n');
}

/** Markdown for the Growth section of bench/README.md. */
export function growthMarkdown(report: GrowthReport, context: string): string {
  const out: string[] = [context, ''];
  out.push(...markdownTable(mainRows(report)));
  out.push('');
  out.push(`Ratios to the ${fmtCount(report.baseline)}-event store of the same run (throughput: higher is better; p99 and µs/event: lower is better; flat = 1.00×):`);
  out.push('');
  out.push(...markdownTable(ratioRows(report)));
  if (report.stores.some((s) => s.size > 0 && s.bytes)) {
    out.push('');
    out.push('Bytes per stored event after the fill and `VACUUM ANALYZE` (`pg_relation_size` of the table and of each index, `pg_indexes_size` for all, `pg_total_relation_size` of `streams`):');
    out.push('');
    out.push(...markdownTable(indexRows(report)));
  }
  const goals = growthGoals(report);
  if (goals.length > 0) {
    out.push('');
    for (const g of goals) out.push(`- ${g.met == null ? '❔' : g.met ? '✅' : '❌'} ${g.text}`);
  }
  const problems = errors(report);
  if (problems.length > 0) {
    out.push('');
    for (const p of problems) out.push(`- ERROR ${p}`);
  }
  return out.join('\n');
}
