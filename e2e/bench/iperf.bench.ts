import { spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { freePort, waitFor } from '@grove/testing';
import { groveCliPath } from './support/grove';
import { ensureDebianPackage } from './support/debian';
import { collectOutput, stopChild } from './support/openssh';
import { openSshPath, type BenchPath } from './support/paths';

/**
 * iperf3 through the user's paths: one iperf3 server on 127.0.0.1, reached directly (the ceiling), through OpenSSH
 * `ssh -L` and through `grove port-forward worker` (a bench cluster: controller, Postgres, one synthetic worker on this
 * machine). Each run is `iperf3 -c … -t SECONDS` (user→VM) and the same with `-R` (VM→user); a stock tool's view of the
 * figures tunnel.bench.ts measures with its own driver. iperf3 opens a control connection and a data connection, so
 * each run is two tunnel sessions. Installs Debian's iperf3 when missing (as root).
 *
 *   npm run bench:iperf
 *   npm run bench:iperf -- --seconds 5 --runs 3 --tls
 */
const IPERF3 = '/usr/bin/iperf3';
const HOST = '127.0.0.1';

interface Row {
  name: string;
  notes: string[];
  up: number[];
  down: number[];
  errors: string[];
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One iperf3 client run against `port`; MB/s (1e6 bytes) the receiving side counted. */
function iperf(port: number, seconds: number, reverse: boolean): number {
  const args = ['-c', HOST, '-p', String(port), '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])];
  const result = spawnSync(IPERF3, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  let report: { error?: string; end?: { sum_received?: { bits_per_second?: number } } } | undefined;
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    // Reported below with iperf3's own words.
  }
  const bits = report?.end?.sum_received?.bits_per_second;
  if (bits === undefined) {
    const why = report?.error ?? (result.stderr || result.error?.message || `exit ${result.status}`);
    throw new Error(`iperf3 ${args.join(' ')}: ${why}`);
  }
  return bits / 8 / 1e6;
}

async function startIperfServer(): Promise<{ port: number; close(): Promise<void> }> {
  ensureDebianPackage(IPERF3, 'iperf3');
  const port = await freePort();
  const server = spawn(IPERF3, ['-s', '-B', HOST, '-p', String(port), '--forceflush'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(server);
  await waitFor(`iperf3 server on ${port}`, () => {
    if (server.exitCode !== null) {
      throw new Error(`iperf3 -s exited with ${server.exitCode}: ${output()}`);
    }
    return /Server listening/.test(output());
  });
  return { port, close: () => stopChild(server, false) };
}

function medianRange(values: number[]): string {
  if (!values.length) {
    return '—';
  }
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return `${median.toFixed(0)} (${sorted[0].toFixed(0)}–${sorted[sorted.length - 1].toFixed(0)})`;
}

function ratio(values: number[], baseline: number[]): string {
  if (!values.length || !baseline.length) {
    return '—';
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor((list.length - 1) / 2)];
  return `${(median(values) / median(baseline)).toFixed(2)}×`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      paths: { type: 'string', default: 'direct,openssh,grove-cli' },
      tls: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const runs = Number(values.runs);
  if (!Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(runs) || runs < 1) {
    throw new Error('--seconds and --runs must be whole numbers of at least 1');
  }
  const server = await startIperfServer();
  const direct: BenchPath = {
    name: 'iperf3 direct',
    start: (targets) =>
      Promise.resolve({
        dialEcho: () => Promise.reject(new Error('not used')),
        dialSink: () => Promise.reject(new Error('not used')),
        dialSource: () => Promise.reject(new Error('not used')),
        localPorts: targets,
        notes: [],
        stop: () => Promise.resolve(),
      }),
  };
  const available: Record<string, BenchPath> = {
    direct,
    openssh: openSshPath(),
    'grove-cli': groveCliPath({ tls: values.tls }),
  };
  const rows: Row[] = [];
  try {
    for (const key of values.paths.split(',')) {
      const path = available[key.trim()];
      if (!path) {
        throw new Error(`unknown path "${key}"; known: ${Object.keys(available).join(', ')}`);
      }
      progress(`starting ${path.name}...`);
      const started = await path.start({ echo: server.port, sink: server.port, source: server.port });
      const row: Row = { name: path.name, notes: started.notes, up: [], down: [], errors: [] };
      rows.push(row);
      try {
        const port = started.localPorts!.echo;
        // Alternating directions, as "three runs in a row" of each.
        for (let run = 1; run <= runs; run++) {
          for (const reverse of [false, true]) {
            progress(`${path.name}: run ${run}/${runs} ${reverse ? 'VM→user (-R)' : 'user→VM'}`);
            // iperf3 -s takes a moment after a test before it accepts the next one.
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            try {
              (reverse ? row.down : row.up).push(iperf(port, seconds, reverse));
            } catch (err) {
              row.errors.push((err as Error).message);
            }
          }
        }
      } finally {
        await started.stop();
      }
    }
  } finally {
    await server.close();
  }

  console.log(`iperf3 benchmark: ${seconds} s per run, ${runs} runs each way, loopback`);
  console.log(`node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}); MB = 1e6 bytes`);
  for (const row of rows) {
    for (const note of row.notes) {
      console.log(`- ${row.name}: ${note}`);
    }
  }
  const openssh = rows.find((row) => row.name.startsWith('OpenSSH'));
  console.log('');
  console.log('| path | user→VM MB/s median (range) | VM→user MB/s median (range) | ratio to OpenSSH up / down |');
  console.log('|---|---|---|---|');
  for (const row of rows) {
    const ratios = openssh ? `${ratio(row.up, openssh.up)} / ${ratio(row.down, openssh.down)}` : '—';
    console.log(`| ${row.name} | ${medianRange(row.up)} | ${medianRange(row.down)} | ${ratios} |`);
  }
  const failures = rows.flatMap((row) => row.errors.map((error) => `- ${row.name}: ${error}`));
  if (failures.length) {
    console.log(`\nFailures:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
  const args = process.argv.slice(2);
  console.log(`\nCommand: npm run bench:iperf${args.length ? ` -- ${args.join(' ')}` : ''}`);
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
