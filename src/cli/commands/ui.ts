import type { Command } from 'commander';
import { InvalidArgumentError, SchemaNotInstalledError } from '../../index.js';
import { startConsole } from '../../ui/index.js';
import { action } from '../action.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';
import { waitForSignal } from '../signals.js';

interface UiCommandOptions {
  port: string;
  host: string;
  token?: string;
}


export function defineUi(program: Command): void {
  program
    .command('ui')
    .description('serve the pgevents console (a browser UI) and print its URL; opens nothing by itself')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '4000')
    .option('--host <host>', 'interface to listen on; anything but loopback requires a token', '127.0.0.1')
    .option('--token <token>', 'access token every request must carry (default: PGEVENTS_UI_TOKEN, or generated when --host is not loopback)')
    .action(
      action(async (context, options: UiCommandOptions) => {
        const port = parseInteger('--port', options.port, 0) ?? 4000;
        if (port > 65535) throw new InvalidArgumentError('--port', `Invalid --port: ${port} is above 65535`);
        const token = options.token ?? (process.env.PGEVENTS_UI_TOKEN || undefined);
        const store = await context.openStore();
        try {
          if ((await store.schemaVersion()) === 0) throw new SchemaNotInstalledError(store.schema);
          let server;
          try {
            server = await startConsole(store, { host: options.host, port, ...(token ? { token } : {}) });
          } catch (error) {
            const code = (error as { code?: unknown }).code;
            if (code === 'EADDRINUSE' || code === 'EACCES') {
              throw new InvalidArgumentError('--port', `Cannot listen on port ${port} of ${options.host}: ${code === 'EACCES' ? 'not permitted' : 'already in use'}`, {
                hint: 'Pick another with --port, or --port 0 for any free port.',
              });
            }
            if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
              throw new InvalidArgumentError('--host', `Cannot listen on ${options.host}: not an address of this machine`, {
                hint: 'Leave --host out for 127.0.0.1, or give one of this machine\'s addresses (0.0.0.0 for all, with a token).',
              });
            }
            throw error;
          }
          const { out } = context;
          out.result(
            { url: server.url, openUrl: server.openUrl, host: server.host, port: server.port, tokenRequired: server.token !== null, engine: store.engine, schema: store.schema },
            () => {
              out.line(`pgevents console (${store.engine} engine, schema ${store.schema})`);
              out.line(`  ${server.tokenGenerated ? server.openUrl : server.url}`);
              if (server.tokenGenerated) out.line(`  token: ${server.token} (every request must carry it; the URL above sets it in the browser)`);
              else if (server.token) out.line('  token: as given (open the URL with ?token=<token> once)');
              out.line('press Ctrl+C to stop');
            },
          );
          await waitForSignal();
          await server.close();
        } finally {
          await store.close();
        }
        return ExitCode.ok;
      }),
    );
}
