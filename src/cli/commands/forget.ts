import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';

export function defineForget(program: Command): void {
  program
    .command('forget')
    .description(
      "forget a data subject (crypto-shredding): delete its key, so that its declared personal fields read as erased everywhere; " +
        'audited (who, when, why); replays the projections of declared types (owner only; see docs/personal-data.md)',
    )
    .argument('<subject>', 'the subject: the text of the declared subject field, or the stream id')
    .requiredOption('--reason <text>', 'why (kept in the audit event with who and when)')
    .action(
      action(async (context, subject: string, options: { reason?: string }) => {
        const result = await withStore(context, (store) => store.forget(subject, { reason: options.reason ?? '' }));
        context.out.result(
          { subject, ...result, forgottenAt: result.forgottenAt.toISOString() },
          () => {
            context.out.line(`forgot ${subject}: key(s) ${result.keys.join(', ')} deleted by ${result.forgottenBy} at ${result.forgottenAt.toISOString()}`);
            context.out.line(result.replayed.length > 0 ? `replayed: ${result.replayed.join(', ')}` : 'no projection to replay');
            if (result.reset.length > 0) context.out.line(`async projections reset (their runners apply the events again): ${result.reset.join(', ')}`);
            if (result.rebuildsCancelled.length > 0) context.out.line(`rebuilds cancelled (run them again): ${result.rebuildsCancelled.join(', ')}`);
            if (result.errorsRedacted > 0) context.out.line(`values erased from recorded errors: ${result.errorsRedacted}`);
            if (result.externalSubscriptions.length > 0) {
              context.out.line(`subscriptions that delivered personal data elsewhere (erase it there too): ${result.externalSubscriptions.join(', ')}`);
            }
          },
        );
        return ExitCode.ok;
      }),
    );
}
