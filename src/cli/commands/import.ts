import type { Command } from 'commander';
import { type ImportFormat, InvalidArgumentError } from '../../index.js';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { createProgressBar } from '../progress.js';

interface ImportCommandOptions {
  format?: string;
}

function parseFormat(text: string | undefined, file: string): ImportFormat | undefined {
  if (text === 'ndjson' || text === 'csv') return text;
  if (text !== undefined) {
    throw new InvalidArgumentError('--format', `Invalid --format: ${text}`, { hint: 'Use ndjson or csv.' });
  }
  if (file === '-') {
    throw new InvalidArgumentError('--format', 'Standard input has no file extension to tell its format', {
      hint: 'Give --format ndjson or --format csv.',
    });
  }
  return undefined;
}

export function defineImport(program: Command): void {
  program
    .command('import')
    .description('import events in bulk from NDJSON or CSV (- reads stdin), in one transaction; events whose id is stored are skipped')
    .argument('<file>', 'NDJSON (.ndjson, .jsonl) or CSV (.csv) file, or - for standard input')
    .option('--format <format>', 'ndjson or csv (default: from the file extension)')
    .action(
      action(async (context, file: string, options: ImportCommandOptions) => {
        const format = parseFormat(options.format, file);
        const bar = createProgressBar(`import ${file}`, !context.out.json);
        const started = performance.now();
        const result = await withStore(context, async (store) => {
          try {
            return await store.importEvents(file === '-' ? process.stdin : file, {
              ...(format ? { format } : {}),
              // The number of events is known only at the end: estimate it from the bytes read so far.
              onProgress: ({ phase, events, bytes, totalBytes }) => {
                const estimate = phase === 'loading' && totalBytes && bytes > 0 ? Math.round((events * totalBytes) / bytes) : events;
                bar.update(events, Math.max(estimate, events));
              },
            });
          } finally {
            bar.stop();
          }
        });
        const seconds = (performance.now() - started) / 1000;
        context.out.result({ ...result, seconds }, () => {
          const events = `${result.imported} event${result.imported === 1 ? '' : 's'}`;
          const streams = `${result.streams} stream${result.streams === 1 ? '' : 's'}`;
          const skipped = result.skipped > 0 ? ` (${result.skipped} skipped: already stored)` : '';
          const positions = result.firstPosition === null ? '' : `, positions ${result.firstPosition} to ${result.lastPosition}`;
          context.out.line(`imported ${events} into ${streams}${skipped}${positions} in ${seconds.toFixed(2)} s`);
        });
        return ExitCode.ok;
      }),
    );
}
