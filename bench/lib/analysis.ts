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

const SERVER_APPEND_MODES: ModeId[] = ['seq1', 'conc8', 'batch100'];

function check(met: boolean | null, text: string, detail: string): Goal {
  return { text, met, detail };
}

/** The goals of issue 3, for each pgevents system measured on the server. */
export function evaluateGoals(results: BenchResults): Goal[] {
  const goals: Goal[] = [];
  const ratios = results.ratios;
  const label = (id: string) => results.systems.find((s) => s.id === id)?.label ?? id;
  for (const id of PGEVENTS_SYSTEMS) {
    if (!results.systems.some((s) => s.id === id && !s.unavailable)) continue;
    for (const mode of SERVER_APPEND_MODES) {
      const r = ratios[mode]?.[id];
      if (!r || results.cells[mode]?.[id]?.kind !== 'measured') continue;
      goals.push(
        check(
          r.vsSeed == null ? null : r.vsSeed >= 1,
          `${label(id)} ≥ seed triggers, ${mode}`,
          r.vsSeed == null ? 'seed not measured' : `${r.vsSeed.toFixed(2)}× seed`,
        ),
      );
      if (mode !== 'bulk') {
        goals.push(
          check(
            r.vsEmmettInline == null ? null : r.vsEmmettInline >= 3,
            `${label(id)} ≥ 3× Emmett + inline projection, ${mode}`,
            r.vsEmmettInline == null ? 'Emmett + inline not measured' : `${r.vsEmmettInline.toFixed(2)}× Emmett + inline`,
          ),
        );
      }
      if (mode === 'batch100') {
        goals.push(
          check(
            r.vsRaw == null ? null : r.vsRaw >= 0.8,
            `${label(id)} ≥ 0.8× raw INSERT, 100 events per transaction`,
            r.vsRaw == null ? 'raw not measured' : `${r.vsRaw.toFixed(2)}× raw`,
          ),
        );
      }
    }
    const replay = ratios.replay?.[id];
    if (replay && results.cells.replay?.[id]?.kind === 'measured') {
      goals.push(
        check(
          replay.vsSeed == null ? null : replay.vsSeed >= 1,
          `${label(id)} replay ≥ the seed's replay loop`,
          replay.vsSeed == null ? 'seed not measured' : `${replay.vsSeed.toFixed(2)}× seed`,
        ),
      );
    }
    const rebuild = ratios.rebuild?.[id];
    if (rebuild && results.cells.rebuild?.[id]?.kind === 'measured') {
      goals.push(
        check(
          rebuild.vsSeed == null ? null : rebuild.vsSeed >= 0.8,
          `${label(id)} set-based rebuild ≥ 0.8× the hand-written INSERT … SELECT`,
          rebuild.vsSeed == null ? 'seed not measured' : `${rebuild.vsSeed.toFixed(2)}× seed`,
        ),
      );
    }
  }
  const imported = ratios.bulk?.[PGEVENTS_IMPORT];
  if (imported && results.cells.bulk?.[PGEVENTS_IMPORT]?.kind === 'measured') {
    goals.push(
      check(
        imported.vsSeed == null ? null : imported.vsSeed >= 1,
        `${label(PGEVENTS_IMPORT)} (projection applied) ≥ the seed's COPY`,
        imported.vsSeed == null ? 'seed not measured' : `${imported.vsSeed.toFixed(2)}× seed`,
      ),
    );
  }
  const bare = ratios.bulk?.[PGEVENTS_IMPORT_BARE];
  if (bare && results.cells.bulk?.[PGEVENTS_IMPORT_BARE]?.kind === 'measured') {
    goals.push(
      check(
        bare.vsRaw == null ? null : bare.vsRaw >= 0.8,
        `${label(PGEVENTS_IMPORT_BARE)} ≥ 0.8× raw COPY`,
        bare.vsRaw == null ? 'raw not measured' : `${bare.vsRaw.toFixed(2)}× raw`,
      ),
    );
  }
  return goals;
}
