import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { server, type TestStore } from '../support/engines.js';
import { loadTallies } from '../support/rebuild-helpers.js';

/** Runs the CLI in process against the test database; returns its exit code and output. */
function pgevents(url: string, ...args: string[]) {
  return runCli(['--database-url', url, ...args]);
}

describe.skipIf(server.unavailable !== null)('pgevents rebuild and pgevents verify (server)', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await server.createStore();
    await loadTallies(t.store, { streams: 200, perStream: 5 });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('rebuilds online and prints the result, as JSON with --json', async () => {
    const human = await pgevents(t.url!, 'rebuild', 'tally', '--batch-size', '300');
    expect(human).toMatchObject({ exitCode: 0, stderr: '' });
    expect(human.stdout).toMatch(/^rebuilt tally \(handlers\): 1000 events in [\d.]+ s, \d+ events\/s, 1 catch-up round, swapped in 1 attempt\n$/);

    const json = await pgevents(t.url!, '--json', 'rebuild', 'tally');
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ projection: 'tally', path: 'handlers', applied: 1000, swapAttempts: 1 });
  });

  it('shows the progress of the last rebuild with --status', async () => {
    const result = await pgevents(t.url!, '--json', 'rebuild', 'tally', '--status');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ projection: 'tally', phase: 'done', percent: 100, applied: 1000, error: null });
  });

  it('exits 0 when verify finds nothing, and 4 with the differences when it does', async () => {
    expect(await pgevents(t.url!, 'verify', 'tally')).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('tally matches its events') });
    await t.store.query('update public.tallies set n = n + 1 where uuid = (select uuid from public.tallies order by uuid limit 1)');

    const human = await pgevents(t.url!, 'verify', 'tally', '--samples', '1');
    expect(human.exitCode).toBe(4);
    expect(human.stdout).toContain('public.tallies: 200 live rows, 200 rebuilt: 0 missing, 0 extra, 1 different');
    expect(human.stdout).toContain('tally differs from a rebuild of its events');

    const json = await pgevents(t.url!, '--json', 'verify', 'tally', '--ignore-column', 'n');
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ equal: true, ignoredColumns: ['n'] });
  });

  it('reports a refused rebuild on stderr with its hint, exit code 1', async () => {
    await t.store.execScript('create view public.tally_view as select * from public.tallies');
    const result = await pgevents(t.url!, 'rebuild', 'tally');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^pgevents: Rebuild of projection tally refused: the view public\.tally_view depends on public\.tallies\nhint: /);
  });

  it('shows each projection\'s state in status', async () => {
    const result = await pgevents(t.url!, 'status');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/tally\s+trigger\s+1\s+live\s+200\s+\d+\s+public\.tallies\s+tally_a, tally_b/);
  });
});
