import { describe, expect, it } from 'vitest';
import { parseArgs, type BenchConfig } from '../../bench/lib/config.js';
import type { GrowthStore } from '../../bench/lib/growth.js';
import { growthGoals, growthMarkdown, growthReport } from '../../bench/lib/growth-report.js';
import type { Cell } from '../../bench/lib/results.js';

// The growth mode's options and arithmetic, without a database (the mode itself runs in `npm run bench`).

function config(argv: string[]): BenchConfig {
  const parsed = parseArgs(argv);
  if (parsed === 'help') throw new Error('help');
  return parsed;
}

function appendCell(rate: number, serverCpu: number): Cell {
  return {
    kind: 'measured',
    runs: [{ events: rate, seconds: 1, rate }],
    summary: { n: 1, median: rate, min: rate, max: rate, mean: rate, spread: 0 },
    cpu: { server: serverCpu, client: 10 },
  };
}

function store(size: number, append: number, p99Ms: number, replaySeconds: number): GrowthStore {
  const replayed = size + 100_000;
  return {
    size,
    streams: size / 10,
    fill: { seconds: size / 50_000, vacuumSeconds: 1 },
    bytes: size === 0 ? { table: 8192, indexes: 40960, index: { events_pkey: 8192 }, streams: 16384 } : { table: size * 140, indexes: size * 180, index: { events_pkey: size * 22 }, streams: size * 17 },
    append: { seq1: appendCell(append, 300), conc8: appendCell(append * 2, 350) },
    readStream: { reads: 2000, streams: 2000, p50Ms: 0.3, p99Ms, maxMs: p99Ms * 2 },
    catchUp: { events: 100_000, seconds: 1 },
    replay: { events: replayed, seconds: replaySeconds },
    rebuild: { events: replayed, seconds: replaySeconds / 4 },
    errors: [],
  };
}

describe('bench growth mode', () => {
  it('runs only when asked, with the sizes of the issue by default', () => {
    expect(config([]).modes).not.toContain('growth');
    const c = config(['--modes', 'growth']);
    expect(c.modes).toEqual(['growth']);
    expect(c.growthSizes).toEqual([0, 1_000_000, 10_000_000]);
    expect(c.growthCatchUpEvents).toBe(100_000);
  });

  it('sorts the sizes and rounds them to whole streams', () => {
    const c = config(['--growth-sizes', '1000000,0,200003', '--growth-catch-up-events', '5004', '--growth-reads', '50']);
    expect(c.growthSizes).toEqual([0, 200_000, 1_000_000]);
    expect(c.growthCatchUpEvents).toBe(5_000);
    expect(c.growthReads).toBe(50);
  });

  it('refuses a size that is not a count of events', () => {
    expect(() => config(['--growth-sizes', '0,-5'])).toThrow(/comma list of event counts/);
    expect(() => config(['--growth-sizes', '0,1e'])).toThrow(/comma list of event counts/);
  });

  it('divides each store by the smallest: throughput up is better, latency and µs per event down', () => {
    const report = growthReport([store(0, 2000, 2, 0.5), store(1_000_000, 1700, 3, 5.5)]);
    const [base, full] = report.ratios;
    expect(base).toMatchObject({ appendSeq1: 1, readP99: 1, replayPerEvent: 1 });
    expect(full!.appendSeq1).toBeCloseTo(0.85);
    expect(full!.appendConc8).toBeCloseTo(0.85);
    expect(full!.readP99).toBeCloseTo(1.5);
    expect(full!.catchUp).toBeCloseTo(1);
    // 0.5 s for 100k events, 5.5 s for 1.1M: 5 µs per event both.
    expect(full!.replayPerEvent).toBeCloseTo(1);
    expect(growthGoals(report).map((g) => g.met)).toEqual([false, false]);
  });

  it('reports bytes per event of the filled stores only', () => {
    const text = growthMarkdown(growthReport([store(0, 2000, 2, 0.5), store(1_000_000, 1900, 2, 5.5)]), 'run');
    expect(text).toContain('| events (table) | 140.0 |');
    expect(text).toContain('| events_pkey | 22.0 |');
    expect(text).toContain('✅ append 1/tx sequential in a 1M-event store ≥ 0.9× the 0-event store\'s: 0.95×');
  });
});
