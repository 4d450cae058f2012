import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseConnection } from './data-source';

/** The embedded database: PGlite (Postgres compiled to WebAssembly) behind a local Postgres wire-protocol socket. */
export interface EmbeddedPostgres {
  connection: DatabaseConnection;
  close(): Promise<void>;
}

/** Unix socket paths are limited to ~107 bytes; beyond that the socket listens on loopback TCP instead. */
const MAX_SOCKET_PATH = 100;
const SOCKET_PORT = 5432;

/**
 * Starts PGlite persisted in `<dataDir>/db` and serves it on a Unix socket inside the data dir (mode 0700), so that
 * only the controller's user can reach it. PGlite has a single backend: queries from all pool connections are
 * serialised, which is fine for development and first tries (ARCHITECTURE.md decision 2).
 */
export async function startEmbeddedPostgres(dataDir: string, poolSize: number): Promise<EmbeddedPostgres> {
  // Loaded lazily: the WebAssembly module is large and unused when GROVE_DATABASE_URL is set.
  const { PGlite: PGliteClass } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer: ServerClass } = await import('@electric-sql/pglite-socket');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = await PGliteClass.create({ dataDir: join(dataDir, 'db') });
  const socketPath = join(dataDir, `.s.PGSQL.${SOCKET_PORT}`);
  const useSocket = socketPath.length <= MAX_SOCKET_PATH;
  if (useSocket) {
    // A controller that was killed leaves its socket file behind; the database itself is safe to reopen.
    rmSync(socketPath, { force: true });
  }
  const server = useSocket
    ? new ServerClass({ db, path: socketPath, maxConnections: poolSize + 2 })
    : new ServerClass({ db, host: '127.0.0.1', port: 0, maxConnections: poolSize + 2 });
  await server.start();
  let connection: DatabaseConnection;
  if (useSocket) {
    connection = { host: dataDir, port: SOCKET_PORT, database: 'postgres', username: 'postgres' };
  } else {
    const port = Number(server.getServerConn().split(':').pop());
    connection = { host: '127.0.0.1', port, database: 'postgres', username: 'postgres' };
  }
  return {
    connection,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}
