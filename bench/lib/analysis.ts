/** Ratios and the goals, computed from the medians of one run. */
import type { BenchResults, Cell, Goal, Ratios } from './results.js';
import { ratio } from './stats.js';
import { MODES, type ModeId } from './types.js';

export const BASELINE_RAW = 'raw';
export const BASELINE_SEED = 'seed';
export const EMMETT_INLINE = 'emmett_inline';
/** The pgevents systems the append and replay goals are about (the users projection's batch handler). */
export const PGEVENTS_SYSTEMS = ['pgevents_insert', 'pgevents_append', 'pgevents_api'];
/** The import with the projection, and without any. */
export const PGEVENTS_IMPORT = 'pgevents_import';
export const PGEVENTS_IMPORT_BARE = 'pgevents_import_bare';

export function medianOf(cell: Cell | undefined): number | null {
  return cell?.kind === 'measured' ? cell.summary.median : null;
}

export function computeRatios(results: BenchResults): BenchResults['ratios'] {
  const out: BenchResults['ratios'] = {};
  for (const mode of MODES) {
    const row = results.cells[mode];
    if (!row) continue;
    const raw = medianOf(row[BASELINE_RAW]);
    const seed = medianOf(row[BASELINE_SEED]);
    const emmett = medianOf(row[EMMETT_INLINE]);
    const ratios: Record<string, Ratios> = {};
    for (const [id, cell] of Object.entries(row)) {
      const m = medianOf(cell);
      ratios[id] = { vsRaw: ratio(m, raw), vsSeed: ratio(m, seed), vsEmmettInline: ratio(m, emmett) };
    }
    out[mode] = ratios;
  }
  return out;
}

export const MESSAGE_DB = 'messagedb';
/** append_events and the plain INSERT: the SQL paths, held to the seed's rate. */
const SQL_PATHS = ['pgevents_insert', 'pgevents_append'];
const ONE_EVENT_MODES: ModeId[] = ['seq1', 'conc8'];

function check(met: boolean | null, text: string, detail: string): Goal {
  return { text, met, detail };
}

/** A goal `value ≥ min` on a ratio that may be missing (the other system was not measured). */
function atLeast(value: number | null | undefined, min: number, text: string, unit: string): Goal {
  return value == null ? check(null, text, `${unit} not measured`) : check(value >= min, text, `${value.toFixed(2)}× ${unit}`);
}

/**
 * The goals of issue 13 (and the replay and rebuild goals of issue 3, which still hold), for each
 * pgevents system measured on the server. Ratios of medians within this run.
 */
export function evaluateGoals(results: BenchResults): Goal[] {
  const goals: Goal[] = [];
  const ratios = results.ratios;
  const label = (id: string) => results.systems.find((s) => s.id === id)?.label ?? id;
  const measured = (mode: ModeId, id: string) => results.cells[mode]?.[id]?.kind === 'measured';
  const cell = (mode: ModeId, id: string) => results.cells[mode]?.[id];
  const serverCpu = (mode: ModeId, id: string): number | null => {
    const c = cell(mode, id);
    return c?.kind === 'measured' ? (c.cpu?.server ?? null) : null;
  };
  for (const id of PGEVENTS_SYSTEMS) {
    if (!results.systems.some((s) => s.id === id && !s.unavailable)) continue;
    const sqlPath = SQL_PATHS.includes(id);
    for (const mode of ONE_EVENT_MODES) {
      const r = ratios[mode]?.[id];
      if (!r || !measured(mode, id)) continue;
      goals.push(atLeast(r.vsSeed, sqlPath ? 1 : 0.9, `${label(id)} ≥ ${sqlPath ? '1.0' : '0.9'}× seed triggers, ${mode}`, 'seed'));
      const mdb = medianOf(cell(mode, MESSAGE_DB));
      const own = medianOf(cell(mode, id));
      goals.push(atLeast(mdb && own != null ? own / mdb : null, 1, `${label(id)} ahead of Message DB, ${mode}`, 'Message DB'));
      goals.push(atLeast(r.vsEmmettInline, 3, `${label(id)} ≥ 3× Emmett + inline projection, ${mode}`, 'Emmett + inline'));
      const cpu = serverCpu(mode, id);
      const seedCpu = serverCpu(mode, BASELINE_SEED);
      goals.push(
        cpu == null || seedCpu == null
          ? check(null, `${label(id)} server CPU per append ≤ 1.1× the seed's, ${mode}`, 'CPU not read')
          : check(cpu <= 1.1 * seedCpu, `${label(id)} server CPU per append ≤ 1.1× the seed's, ${mode}`, `${cpu.toFixed(0)} vs ${seedCpu.toFixed(0)} µs (${(cpu / seedCpu).toFixed(2)}×)`),
      );
    }
    const batch = ratios.batch100?.[id];
    if (batch && measured('batch100', id)) {
      goals.push(atLeast(batch.vsSeed, sqlPath ? 1.2 : 1, `${label(id)} ≥ ${sqlPath ? '1.2' : '1.0'}× seed triggers, batch100`, 'seed'));
    }
    const replay = ratios.replay?.[id];
    if (replay && measured('replay', id)) {
      goals.push(atLeast(replay.vsSeed, 1, `${label(id)} replay ≥ the seed's replay loop (issue 3)`, 'seed'));
    }
    const rebuild = ratios.rebuild?.[id];
    if (rebuild && measured('rebuild', id)) {
      goals.push(atLeast(rebuild.vsSeed, 0.8, `${label(id)} set-based rebuild ≥ 0.8× the hand-written INSERT … SELECT (issue 3)`, 'seed'));
    }
  }
  const imported = ratios.bulk?.[PGEVENTS_IMPORT];
  if (imported && measured('bulk', PGEVENTS_IMPORT)) {
    goals.push(atLeast(imported.vsSeed, 1, `${label(PGEVENTS_IMPORT)} (projection applied) ≥ the seed's COPY`, 'seed'));
  }
  const bare = ratios.bulk?.[PGEVENTS_IMPORT_BARE];
  if (bare && measured('bulk', PGEVENTS_IMPORT_BARE)) {
    goals.push(atLeast(bare.vsRaw, 0.5, `${label(PGEVENTS_IMPORT_BARE)} ≥ 0.5× raw COPY`, 'raw'));
  }
  return goals;
}
