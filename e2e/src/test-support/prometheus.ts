import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@grove/testing';
import { stringify } from 'yaml';
import { REPO_ROOT } from './paths';

/** Debian's Prometheus (scripts/ensure-prometheus.sh installs it for the test suite). */
export const PROMETHEUS = '/usr/bin/prometheus';
const ENSURE_SCRIPT = join(REPO_ROOT, 'scripts', 'ensure-prometheus.sh');

/**
 * Makes sure Debian's `prometheus` is there: scripts/test.sh installs it before the tests, and a spec run alone
 * installs it here the same way. Throws, saying what to do, when it cannot be installed: the spec never skips.
 */
export function ensurePrometheus(): void {
  if (existsSync(PROMETHEUS)) {
    return;
  }
  try {
    execFileSync('bash', [ENSURE_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000 });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(
      `${PROMETHEUS} is missing and ${ENSURE_SCRIPT} could not install it (apt-get install -y prometheus as root):\n` +
        `${stdout?.toString() ?? ''}${stderr?.toString() ?? (err as Error).message}`,
      { cause: err },
    );
  }
  if (!existsSync(PROMETHEUS)) {
    throw new Error(`${ENSURE_SCRIPT} ran but ${PROMETHEUS} is still missing`);
  }
}

/** One `scrape_configs` entry: a job of loopback targets, over HTTPS with basic auth where given. */
export interface ScrapeJob {
  job: string;
  /** `127.0.0.1:PORT` of each target. */
  targets: string[];
  /** HTTPS, trusting only this CA (or self-signed certificate) file, for this server name. */
  tls?: { caFile: string; serverName: string };
  /** HTTP Basic with this user name and the password read from a file, as Prometheus' `basic_auth` sends it. */
  basicAuth?: { username: string; passwordFile: string };
}

/** The text of a prometheus.yml scraping `jobs` every second. */
export function prometheusConfig(jobs: ScrapeJob[]): string {
  return stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: jobs.map((job) => ({
      job_name: job.job,
      scheme: job.tls ? 'https' : 'http',
      ...(job.tls ? { tls_config: { ca_file: job.tls.caFile, server_name: job.tls.serverName } } : {}),
      ...(job.basicAuth
        ? { basic_auth: { username: job.basicAuth.username, password_file: job.basicAuth.passwordFile } }
        : {}),
      static_configs: [{ targets: job.targets }],
    })),
  });
}

/** A sample of an instant query's answer (`resultType` vector or scalar), its value parsed ("NaN" becomes NaN). */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** The answer of `GET /api/v1/query` when the query was evaluated; an error answer is thrown. */
export interface PromQueryResult {
  resultType: string;
  samples: PromSample[];
}

export interface PrometheusProcess {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Evaluates `expr` now (`GET /api/v1/query`); throws with Prometheus' error when it does not parse or fails. */
  query(expr: string): Promise<PromQueryResult>;
  /** The value of the one sample `expr` answers with; undefined when it answers with none. */
  value(expr: string): Promise<number | undefined>;
  /** Everything Prometheus logged so far. */
  output(): string;
  /** Stops the process (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

interface ApiAnswer {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

function samplesOf(data: NonNullable<ApiAnswer['data']>): PromSample[] {
  if (data.resultType === 'scalar') {
    const [, value] = data.result as [number, string];
    return [{ metric: {}, value: Number(value) }];
  }
  if (data.resultType === 'vector') {
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    }));
  }
  throw new Error(`unexpected result type ${data.resultType}`);
}

/**
 * Runs Debian's `prometheus` on a free loopback port with `jobs` as its configuration and its storage under `home`,
 * and waits until it is ready. Nothing of the system's Prometheus (service, /etc/prometheus, /var/lib) is used.
 */
export async function startPrometheus(home: string, jobs: ScrapeJob[]): Promise<PrometheusProcess> {
  ensurePrometheus();
  mkdirSync(home, { recursive: true });
  const config = join(home, 'prometheus.yml');
  writeFileSync(config, prometheusConfig(jobs));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(home, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    })());

  const query = async (expr: string): Promise<PromQueryResult> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
    const answer = (await res.json()) as ApiAnswer;
    if (answer.status !== 'success' || !answer.data) {
      throw new Error(`Prometheus refused ${expr}: ${answer.errorType ?? res.status}: ${answer.error ?? ''}`);
    }
    return { resultType: answer.data.resultType, samples: samplesOf(answer.data) };
  };
  const value = async (expr: string): Promise<number | undefined> => {
    const { samples } = await query(expr);
    if (samples.length > 1) {
      throw new Error(`${expr} answered ${samples.length} samples, expected one: ${JSON.stringify(samples)}`);
    }
    return samples[0]?.value;
  };

  const died = exited.then(() => {
    throw new Error(`prometheus exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready`);
  });
  try {
    await Promise.race([
      waitFor(`Prometheus ready at ${url}`, async () => (await fetch(`${url}/-/ready`)).ok, 30_000, 100),
      died,
    ]);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`, { cause: err });
  }
  died.catch(() => undefined);
  return { url, query, value, output: () => output, stop };
}

/**
 * The `127.0.0.1:PORT` a worker process serves /metrics on: workers of the tests listen on port 0 (any free port) and
 * log which they took (`serving /healthz and /metrics on http://127.0.0.1:PORT`).
 */
export function workerMetricsTarget(worker: { output(): string }): Promise<string> {
  return waitFor('the worker metrics listener in its log', () => {
    return /serving \/healthz and \/metrics on http:\/\/(127\.0\.0\.1:\d+)/.exec(worker.output())?.[1];
  });
}
