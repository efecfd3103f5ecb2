import type { Command } from 'commander';
import { serveEmbeddedStore } from '../../db/serve.js';
import { InvalidArgumentError } from '../../errors.js';
import { action } from '../action.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';
import { waitForSignal } from '../signals.js';

interface ServeCommandOptions {
  port: string;
  host: string;
  socketDir?: string;
}

export function defineServe(program: Command): void {
  program
    .command('serve')
    .description('serve the embedded store (--data-dir) over the PostgreSQL protocol, for psql, pg_dump and any client; one session at a time; Ctrl+C stops it')
    .option('--port <n>', 'TCP port (0 picks a free one); with --socket-dir, the number in the socket\'s name', '5433')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--socket-dir <dir>', 'listen on the Unix socket <dir>/.s.PGSQL.<port> instead of TCP')
    .action(
      action(async (context, options: ServeCommandOptions) => {
        const dataDir = context.embeddedDataDir();
        if (dataDir === null) {
          throw new InvalidArgumentError('databaseUrl', 'pgevents serve serves the embedded store (--data-dir); a server is reachable already', {
            hint: 'Leave --database-url and DATABASE_URL out to name an embedded store.',
          });
        }
        const port = parseInteger('--port', options.port, 0) ?? 5433;
        if (port > 65535) throw new InvalidArgumentError('--port', `Invalid --port: ${port} is above 65535`);
        let server;
        try {
          server = await serveEmbeddedStore(dataDir, { host: options.host, port, ...(options.socketDir ? { socketDir: options.socketDir } : {}) });
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
            throw new InvalidArgumentError('--port', `Cannot listen on ${options.socketDir ?? `port ${port} of ${options.host}`}: ${code === 'EADDRINUSE' ? 'already in use' : code === 'EACCES' ? 'not permitted' : 'not an address of this machine'}`, {
              hint: 'Pick another with --port (0 for any free port) or --host.',
            });
          }
          throw error;
        }
        const { out } = context;
        out.result({ url: server.url, host: server.host, port: server.port, socket: server.socket, dataDir }, () => {
          out.line(`pgevents serve: the embedded store ${dataDir} over the PostgreSQL protocol (PostgreSQL 18)`);
          out.line(`  ${server.url}`);
          out.line(`  psql '${server.url}'`);
          out.line('one session at a time (a second client is refused until the first disconnects); press Ctrl+C to stop');
        });
        await waitForSignal();
        await server.close();
        return ExitCode.ok;
      }),
    );
}
