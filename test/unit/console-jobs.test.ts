import { describe, expect, it } from 'vitest';
import { JobBoard } from '../../src/ui/jobs.js';

/** A job that reports progress each time `step` is resolved, until it has done `steps` of them. */
function steppedJob(steps: number) {
  let release: () => void = () => undefined;
  const next = () => new Promise<void>((resolve) => (release = resolve));
  let reported = 0;
  return {
    step: () => release(),
    get reported() {
      return reported;
    },
    run: async (report: (done: number, total: number | null) => void) => {
      for (let i = 1; i <= steps; i++) {
        await next();
        report(i, steps);
        reported = i;
      }
      return 'finished';
    },
  };
}

describe('console jobs', () => {
  it('cancels a running job at its next progress report, and says so', async () => {
    const board = new JobBoard(() => ({ code: 'ERROR', message: 'failed' }));
    const job = steppedJob(5);
    const info = board.start('rebuild', 'users', job.run);
    job.step();
    await expect.poll(() => job.reported).toBe(1);
    const cancelling = board.cancel('users');
    job.step();
    const cancelled = await cancelling;
    expect(cancelled?.id).toBe(info.id);
    expect(board.get(info.id)).toMatchObject({ state: 'cancelled', done: 1, error: null });
    expect(job.reported).toBe(1);
    expect(board.running('users')).toBeUndefined();
  });

  it('has nothing to cancel when no job runs on the target', async () => {
    const board = new JobBoard(() => ({ code: 'ERROR', message: 'failed' }));
    expect(await board.cancel('users')).toBeUndefined();
  });
});
