import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { freePort } from './free-port';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway Postgres cluster started from the machine's own binaries. */
export interface PostgresCluster {
  dir: string;
  port: number;
  /** Connection URL of the cluster's `postgres` database, superuser `grove`, no password (trust on loopback). */
  url: string;
  binDir: string;
}

/** Finds the newest `/usr/lib/postgresql/<n>/bin` (or `GROVE_PG_BIN`). */
export function findPostgresBinDir(): string {
  const fromEnv = process.env['GROVE_PG_BIN'];
  if (fromEnv) {
    return fromEnv;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'no Postgres server binaries found under /usr/lib/postgresql/*/bin; install them with ' +
        '`apt-get install -y postgresql` (scripts/test.sh does this) or set GROVE_PG_BIN',
    );
  }
  return join(root, versions[0], 'bin');
}

/** initdb refuses to run as root, so as root every server command runs as the `postgres` system user. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) {
    return ['runuser', ['-u', 'postgres', '--', bin, ...args]];
  }
  return [bin, args];
}

export async function startPostgres(): Promise<PostgresCluster> {
  const binDir = findPostgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'grove-pg-'));
  if (process.getuid?.() === 0) {
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), 0);
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = asServerUser(join(binDir, 'initdb'), [
    '-D',
    data,
    '-U',
    'grove',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
  ]);
  run(initCmd, initArgs);
  const port = await freePort();
  const options = [
    `-k ${dir}`,
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=300',
  ].join(' ');
  const [ctlCmd, ctlArgs] = asServerUser(join(binDir, 'pg_ctl'), [
    '-D',
    data,
    '-l',
    join(dir, 'postgres.log'),
    '-w',
    '-o',
    options,
    'start',
  ]);
  run(ctlCmd, ctlArgs);
  return { dir, port, binDir, url: `postgres://grove@127.0.0.1:${port}/postgres` };
}

export function stopPostgres(cluster: Pick<PostgresCluster, 'dir' | 'binDir'>): void {
  const [cmd, args] = asServerUser(join(cluster.binDir, 'pg_ctl'), [
    '-D',
    join(cluster.dir, 'data'),
    '-m',
    'immediate',
    '-w',
    'stop',
  ]);
  spawnSync(cmd, args, { stdio: 'ignore' });
  rmSync(cluster.dir, { recursive: true, force: true });
}

/**
 * Restarts the cluster as an operator would with `pg_ctl restart -m fast`: sessions are terminated (57P01), the
 * server is down for a moment (connections refused, or 57P03 while it shuts down and starts up), then it is back on
 * the same port. Asynchronous, so that the caller's load keeps running meanwhile. Never for the run's shared cluster
 * (GROVE_TEST_PG_URL): other test files use it.
 */
export async function restartPostgres(cluster: Pick<PostgresCluster, 'dir' | 'binDir'>): Promise<void> {
  const [cmd, args] = asServerUser(join(cluster.binDir, 'pg_ctl'), [
    '-D',
    join(cluster.dir, 'data'),
    '-l',
    join(cluster.dir, 'postgres.log'),
    '-m',
    'fast',
    '-w',
    '-t',
    '60',
    'restart',
  ]);
  await new Promise<void>((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8', timeout: 90_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || stdout || err.message}`)) : resolve(),
    ),
  );
}

function run(cmd: string, args: string[]): void {
  const result = spawnSync(cmd, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
}
