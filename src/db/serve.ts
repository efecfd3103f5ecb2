import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { lockDataDir } from './data-dir-lock.js';

// The embedded store over the PostgreSQL wire protocol, so that psql, pg_dump and any client can
// reach it. PGlite is one backend: one client session at a time holds it; a client that connects
// meanwhile gets a FATAL error saying so. Between sessions the backend is reset (an open
// transaction rolled back, session state discarded), so one client never inherits another's state.
//
// Not @electric-sql/pglite-socket: each release pins one exact PGlite as a peer (0.2.17: 0.5.14,
// 0.2.18: 0.5.15), never ours (0.5.16), and it hands each message to PGlite on its own, which breaks
// COPY FROM STDIN (electric-sql/pglite#1028). The protocol work here is small: whole messages in,
// PGlite's answer out.

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

/** A message's type byte and its whole bytes, as they came. */
interface Message {
  type: number;
  bytes: Buffer;
}

const QUERY = 0x51; // Q
const TERMINATE = 0x58; // X
const COPY_DONE = 0x63; // c
const COPY_FAIL = 0x66; // f
const COPY_IN_RESPONSE = 0x47; // G

/** A simple query that starts `COPY ... FROM STDIN`: its data follows in messages of their own. */
function isCopyFromStdin(message: Message): boolean {
  if (message.type !== QUERY) return false;
  const sql = message.bytes.subarray(5, message.bytes.length - 1).toString('utf8');
  return /^\s*copy\b[\s\S]*\bfrom\s+stdin\b/i.test(sql);
}

/** The CopyInResponse a client waits for before it sends the data (columns are not announced). */
function copyInResponse(sql: Buffer): Buffer {
  const binary = /\bformat\s*\(?\s*binary\b|\bbinary\b/i.test(sql.toString('utf8'));
  const message = Buffer.alloc(1 + 4 + 1 + 2);
  message.writeUInt8(COPY_IN_RESPONSE, 0);
  message.writeInt32BE(4 + 1 + 2, 1);
  message.writeInt8(binary ? 1 : 0, 5);
  message.writeInt16BE(0, 6);
  return message;
}

/** The answer without its first CopyInResponse: the client had one already. */
function withoutCopyInResponse(answer: Uint8Array): Uint8Array {
  const bytes = Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
  for (let at = 0; at + 5 <= bytes.length; at += 1 + bytes.readInt32BE(at + 1)) {
    if (bytes[at] === COPY_IN_RESPONSE) {
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + bytes.readInt32BE(at + 1))]);
    }
  }
  return answer;
}

/**
 * One client session: the startup packet and then whole protocol messages handed to PGlite in the
 * order they came, its answers written back. Resolves when the client has gone.
 *
 * `COPY ... FROM STDIN` is a conversation PGlite cannot hold across calls: its data must reach
 * PGlite in the same call as the query. So the session answers the query's CopyInResponse itself,
 * gathers the CopyData up to CopyDone (or CopyFail), and hands PGlite the query and its data at
 * once (the copy is held in memory meanwhile).
 */
function runSession(db: PGlite, socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    let started = false;
    let ended = false;
    let pending = Promise.resolve();
    /** The COPY FROM STDIN query and the data gathered for it, while a copy is in progress. */
    let copying: Buffer[] | null = null;
    const exec = async (bytes: Buffer, strip = false) => {
      const answer = await db.execProtocolRaw(new Uint8Array(bytes));
      const reply = strip ? withoutCopyInResponse(answer) : answer;
      if (reply.length > 0 && socket.writable) socket.write(reply);
    };
    const end = () => {
      if (ended) return;
      ended = true;
      socket.end();
      resolve();
    };
    /** The whole messages at the start of the buffer, taken out of it. */
    const takeMessages = (): Message[] => {
      const messages: Message[] = [];
      let at = 0;
      while (buffer.length - at >= 5) {
        const length = buffer.readInt32BE(at + 1);
        if (buffer.length - at < 1 + length) break;
        messages.push({ type: buffer[at]!, bytes: buffer.subarray(at, at + 1 + length) });
        at += 1 + length;
      }
      buffer = buffer.subarray(at);
      return messages;
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
        const messages = takeMessages();
        if (messages.length === 0) return;
        let batch: Buffer[] = [];
        for (const message of messages) {
          if (copying) {
            copying.push(message.bytes);
            if (message.type === COPY_DONE || message.type === COPY_FAIL) {
              const copy = Buffer.concat(copying);
              copying = null;
              await exec(copy, true);
            }
            continue;
          }
          if (message.type === TERMINATE) {
            if (batch.length > 0) await exec(Buffer.concat(batch));
            return end();
          }
          if (isCopyFromStdin(message)) {
            if (batch.length > 0) await exec(Buffer.concat(batch));
            batch = [];
            copying = [message.bytes];
            socket.write(copyInResponse(message.bytes.subarray(5)));
            continue;
          }
          batch.push(message.bytes);
        }
        if (batch.length > 0) await exec(Buffer.concat(batch));
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
    db = await PGlite.create(dataDir, { extensions: { pgcrypto } });
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
