const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The server the suite runs against: TEST_DATABASE_URL, DATABASE_URL, or the local one. */
export function serverUrl(): string {
  return process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_URL;
}

/** The same server, database `postgres`... or the one named in the URL, for creating databases. */
export function adminUrl(): string {
  return serverUrl();
}

/** The same server, another database. */
export function databaseUrl(database: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${database}`;
  return url.toString();
}
