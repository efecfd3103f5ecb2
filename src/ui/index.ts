/**
 * The pgevents console: a browser UI served by Node's own http server for an open store.
 * `pgevents ui` runs it from the command line; `startConsole(store)` embeds it in an application.
 */
export { startConsole } from './server.js';
export type { ConsoleServer, StartConsoleOptions } from './server.js';
export { isLoopbackHost } from './security.js';
