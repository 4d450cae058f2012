import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Client } from 'pg';
import { processCpuSeconds } from './process-cpu';
import { wallNow } from './fleet-load';

/**
 * What the benchmark learns from the controller's database without asking the controller: a trigger notes the moment
 * (Postgres' `clock_timestamp()`, the same system clock as the benchmark's `wallNow()`) at which each VM gets a worker,
 * inside the scheduler's own write. Polling the API instead would add load to what is measured, and watching 10,000
 * VMs would need 10,000 streams. The trigger fires on whatever statement places a VM (one UPDATE per VM or a batch).
 */
export class FleetDatabase {
  private constructor(private readonly db: Client) {}

  static async open(url: string): Promise<FleetDatabase> {
    const db = new Client({ connectionString: url, application_name: 'fleet-bench' });
    await db.connect();
    await db.query(`
      CREATE TABLE bench_placements (name text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION bench_note_placement() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO bench_placements (name) VALUES (NEW.name);
          RETURN NULL;
        END
      $$;
      CREATE TRIGGER bench_placed AFTER UPDATE ON vms FOR EACH ROW
        WHEN (OLD.worker = '' AND NEW.worker <> '') EXECUTE FUNCTION bench_note_placement();
      CREATE TRIGGER bench_placed_at_insert AFTER INSERT ON vms FOR EACH ROW
        WHEN (NEW.worker <> '') EXECUTE FUNCTION bench_note_placement();
    `);
    return new FleetDatabase(db);
  }

  async placedCount(): Promise<number> {
    const rows = await this.db.query<{ n: string }>('SELECT count(DISTINCT name) AS n FROM bench_placements');
    return Number(rows.rows[0].n);
  }

  /** When each VM was first placed (wall-clock ms), by name. */
  async placedAt(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ name: string; at: number }>(
      'SELECT name, extract(epoch FROM min(at)) * 1000 AS at FROM bench_placements GROUP BY name',
    );
    return new Map(rows.rows.map((r) => [r.name, Number(r.at)]));
  }

  /** VMs with and without a worker, and how many of those without have a `status_message` saying why. */
  async pendingState(): Promise<{ placed: number; pending: number; explained: number }> {
    const rows = await this.db.query<{ placed: string; pending: string; explained: string }>(`
      SELECT count(*) FILTER (WHERE worker <> '') AS placed,
             count(*) FILTER (WHERE worker = '') AS pending,
             count(*) FILTER (WHERE worker = '' AND coalesce(document->>'status_message', '') <> '') AS explained
      FROM vms`);
    const r = rows.rows[0];
    return { placed: Number(r.placed), pending: Number(r.pending), explained: Number(r.explained) };
  }

  /** Length in characters of pending VMs' `status_message` (p50 and max), and the longest one. */
  async pendingMessages(): Promise<{ p50: number; max: number; longest: string }> {
    const rows = await this.db.query<{ p50: number | null; max: number | null; longest: string | null }>(`
      WITH m AS (SELECT coalesce(document->>'status_message', '') AS text FROM vms WHERE worker = '')
      SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY length(text)) AS p50, max(length(text)) AS max,
             (SELECT text FROM m ORDER BY length(text) DESC LIMIT 1) AS longest
      FROM m`);
    const r = rows.rows[0];
    return { p50: Number(r.p50 ?? 0), max: Number(r.max ?? 0), longest: r.longest ?? '' };
  }

  /**
   * Counts the statements the controller sends to Postgres while `run` runs: `log_statement = all` for the while, and
   * the lines of the server log between two marker statements of this connection. Run it while nothing else talks to
   * the controller; a scheduling pass falling inside is counted too (its statements are few beside a batch of calls).
   */
  async statementsDuring(run: () => Promise<void>): Promise<number> {
    const dataDir = (await this.db.query<{ d: string }>(`SELECT current_setting('data_directory') AS d`)).rows[0].d;
    // libs/testing's startPostgres writes the server log next to the data directory.
    const logFile = join(dirname(dataDir), 'postgres.log');
    await this.db.query(`ALTER SYSTEM SET log_statement = 'all'`);
    await this.db.query('SELECT pg_reload_conf()');
    try {
      // The reload reaches every backend at its next command; give them a moment to read it.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await this.db.query(`SELECT 'fleet-bench-marker-start'`);
      await run();
      await this.db.query(`SELECT 'fleet-bench-marker-end'`);
    } finally {
      await this.db.query(`ALTER SYSTEM RESET log_statement`);
      await this.db.query('SELECT pg_reload_conf()');
    }
    const log = readFileSync(logFile, 'utf8');
    const between = log.slice(log.lastIndexOf('fleet-bench-marker-start'), log.lastIndexOf('fleet-bench-marker-end'));
    // One "statement:" line per simple query, one "execute <name>:" line per extended-protocol execution.
    return (between.match(/LOG: {2}(statement|execute [^:]*):/g) ?? []).length - 1;
  }

  close(): Promise<void> {
    return this.db.end();
  }
}

/** Resident memory of process `pid` now and at its peak (`VmHWM`), in MiB; undefined fields when unreadable. */
export function processMemoryMiB(pid: number): { rss?: number; peak?: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return match ? Number(match[1]) / 1024 : undefined;
    };
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return {};
  }
}

/** CPU of a process over a stretch of time, as % of one core. */
export class CpuWindow {
  private readonly cpuStart: number | undefined;
  readonly start = wallNow();

  constructor(private readonly pid: number) {
    this.cpuStart = processCpuSeconds(pid);
  }

  /** % of one core since construction (undefined when /proc cannot be read), and the end of the window. */
  end(): { percent?: number; cpuSeconds?: number; end: number } {
    const cpu = processCpuSeconds(this.pid);
    const end = wallNow();
    if (cpu === undefined || this.cpuStart === undefined) {
      return { end };
    }
    const cpuSeconds = cpu - this.cpuStart;
    return { percent: (100 * cpuSeconds * 1000) / (end - this.start), cpuSeconds, end };
  }
}

export interface ListTiming {
  /** Request sent → last byte of the (decoded) body. */
  totalMs: number;
  /** Request sent → first byte of the body. */
  firstByteMs: number;
  /** Body bytes as sent on the wire, and after decoding. */
  wireBytes: number;
  bodyBytes: number;
  encoding: string;
  nextCursor?: string;
  body?: Buffer;
}

/**
 * One `GET` of `path` (e.g. `/v1/vms`), timed to the first and the last body byte, on a new connection each time (as
 * a CLI process makes). With `gzip`, asks for it and decodes what comes. With `keep`, the body is returned.
 */
export function timeList(
  url: string,
  path: string,
  credentials: { name: string; token: string },
  options: { gzip?: boolean; keep?: boolean } = {},
): Promise<ListTiming> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${credentials.name}:${credentials.token}`).toString('base64')}`,
      accept: 'application/json',
    };
    if (options.gzip) {
      headers['accept-encoding'] = 'gzip';
    }
    const req = httpRequest(`${url}${path}`, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${path} answered ${res.statusCode}`));
        return;
      }
      let firstByteMs: number | undefined;
      let wireBytes = 0;
      let bodyBytes = 0;
      const chunks: Buffer[] = [];
      const encoding = String(res.headers['content-encoding'] ?? 'identity');
      res.on('data', (chunk: Buffer) => {
        firstByteMs ??= performance.now() - started;
        wireBytes += chunk.length;
      });
      const body = encoding === 'gzip' ? res.pipe(createGunzip()) : res;
      body.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
        if (options.keep) {
          chunks.push(chunk);
        }
      });
      body.once('error', reject);
      body.once('end', () => {
        resolve({
          totalMs: performance.now() - started,
          firstByteMs: firstByteMs ?? performance.now() - started,
          wireBytes,
          bodyBytes,
          encoding,
          nextCursor: res.headers['x-next-cursor'] as string | undefined,
          body: options.keep ? Buffer.concat(chunks) : undefined,
        });
      });
    });
    req.once('error', reject);
    req.end();
  });
}
