import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.js';

// The embedded store over the PostgreSQL wire protocol, so that psql, pg_dump and any client can
// reach it. PGlite is one backend: one client session at a time holds it; a client that connects
// meanwhile gets a FATAL error saying so. Between sessions the backend is reset (an open
// transaction rolled back, session state discarded), so one client never inherits another's state.

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

export interface ServeOptions {
  host?: string;
  /** TCP port (0: any free one). */
  port?: number;
  /** Listen on the Unix socket `<socketDir>/.s.PGSQL.<port>` (as PostgreSQL does) instead of TCP. */
  socketDir?: string;
}

export interface EmbeddedServer {
  host: string | null;
  port: number;
  socket: string | null;
  /** A connection string for clients (user and database are PGlite's: postgres). */
  url: string;
  /** Stops listening, ends the session in progress, and closes the data directory. */
  close(): Promise<void>;
}

/** A simple-protocol Query message. */
function queryMessage(sql: string): Buffer {
  const text = Buffer.from(`${sql}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('Q', 0, 'latin1');
  header.writeInt32BE(4 + text.length, 1);
  return Buffer.concat([header, text]);
}

/** A FATAL ErrorResponse, for a client that cannot be served. */
function fatalMessage(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'latin1');
  header.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([header, fields]);
}

/**
 * One client session: the startup packet and then whole protocol messages handed to PGlite in the
 * order they came, its answers written back. Resolves when the client has gone.
 */
function runSession(db: PGlite, socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    let started = false;
    let ended = false;
    let pending = Promise.resolve();
    const exec = async (bytes: Buffer) => {
      const answer = await db.execProtocolRaw(new Uint8Array(bytes));
      if (answer.length > 0 && socket.writable) socket.write(answer);
    };
    const end = () => {
      if (ended) return;
      ended = true;
      socket.end();
      resolve();
    };
    const pump = async () => {
      for (;;) {
        if (ended) return;
        if (!started) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) return;
          const code = buffer.readInt32BE(4);
          const packet = buffer.subarray(0, length);
          buffer = buffer.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N'); // not offered: the client goes on in plain text (or gives up, as it was told to)
            continue;
          }
          if (code === CANCEL_REQUEST) return end();
          started = true;
          await exec(packet);
          continue;
        }
        let complete = 0;
        let terminate = false;
        while (buffer.length - complete >= 5) {
          const length = buffer.readInt32BE(complete + 1);
          if (buffer.length - complete < 1 + length) break;
          if (buffer[complete] === 0x58 /* X: Terminate */) {
            terminate = true;
            break;
          }
          complete += 1 + length;
        }
        if (complete > 0) {
          const messages = buffer.subarray(0, complete);
          buffer = buffer.subarray(complete);
          await exec(messages);
        }
        if (terminate) return end();
        if (complete === 0) return;
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      pending = pending.then(pump).catch(() => end());
    });
    socket.on('error', () => end());
    socket.on('close', () => {
      ended = true;
      resolve();
    });
  });
}

/**
 * Serves the embedded store in `dataDir` over the PostgreSQL protocol until closed.
 * @throws {DataDirInUseError} when another process (or store) has the data directory open.
 */
export async function serveEmbeddedStore(dataDir: string, options: ServeOptions = {}): Promise<EmbeddedServer> {
  const release = lockDataDir(dataDir);
  let db: PGlite | undefined;
  let server: Server | undefined;
  try {
    db = await PGlite.create(dataDir);
    const pglite = db;
    let session: Promise<void> | null = null;
    const sockets = new Set<Socket>();
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      if (session) {
        socket.end(fatalMessage('53300', 'pgevents serve takes one session at a time, and another client is connected: try again when it has disconnected'));
        return;
      }
      session = pglite.runExclusive(async () => {
        try {
          await runSession(pglite, socket);
        } finally {
          // The next client starts clean: no open transaction, no session settings of this one.
          await pglite.execProtocolRaw(new Uint8Array(queryMessage('rollback'))).catch(() => undefined);
          await pglite.execProtocolRaw(new Uint8Array(queryMessage('discard all'))).catch(() => undefined);
          session = null;
        }
      });
    });
    const socketPath = options.socketDir ? join(options.socketDir, `.s.PGSQL.${options.port ?? 5432}`) : null;
    if (socketPath && existsSync(socketPath)) rmSync(socketPath);
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      if (socketPath) listening.listen(socketPath, () => resolve());
      else listening.listen(options.port ?? 5433, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = listening.address();
    const port = socketPath ? (options.port ?? 5432) : typeof address === 'object' && address ? address.port : (options.port ?? 5433);
    const host = socketPath ? null : (options.host ?? '127.0.0.1');
    const url = socketPath
      ? `postgres://postgres@/postgres?host=${encodeURIComponent(options.socketDir!)}&port=${port}`
      : `postgres://postgres@${host!.includes(':') ? `[${host}]` : host}:${port}/postgres?sslmode=disable`;
    return {
      host,
      port,
      socket: socketPath,
      url,
      async close() {
        await new Promise<void>((resolve) => {
          listening.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
        await session;
        await pglite.close();
        release();
      },
    };
  } catch (error) {
    server?.close();
    await db?.close().catch(() => undefined);
    release();
    throw error;
  }
}
