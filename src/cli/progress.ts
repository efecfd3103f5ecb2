import cliProgress from 'cli-progress';

/** A progress bar on stderr when it is a terminal (and not --json); otherwise nothing. */
export function createProgressBar(label: string, enabled: boolean, unit = 'events') {
  if (!enabled || !process.stderr.isTTY) {
    return { update(_done: number, _total: number) {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {eta_formatted} left`,
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done: number, total: number) {
      if (!started) {
        bar.start(Math.max(total, 1), done);
        started = true;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
