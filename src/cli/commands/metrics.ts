import type { Command } from 'commander';
import { prometheusText } from '../../status/metrics.js';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';

export function defineMetrics(program: Command): void {
  program
    .command('metrics')
    .description("the store's metrics once, in Prometheus' text format (--json: the metric families); `pgevents ui` serves them at /metrics")
    .action(
      action(async (context) => {
        const families = await withStore(context, (store) => store.metrics());
        context.out.result(families, () => {
          process.stdout.write(prometheusText(families));
        });
        return ExitCode.ok;
      }),
    );
}
