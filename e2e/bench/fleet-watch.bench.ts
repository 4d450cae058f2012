import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import { BENCH_ADMIN, BENCH_ADMIN_TOKEN, startBenchCluster } from './bench-cluster';
import { formatMs, summarise, timedPool } from './stats';

/**
 * The web console's fleet watch (`GET /v1/vms?watch=true`, issue 16) against a real controller process on a throwaway
 * Postgres (loopback only): how long the whole fleet takes to arrive as ADDED lines (against `GET /v1/vms`, the plain
 * list), and how much the controller's memory grows with watch streams whose clients read nothing, i.e. whether a
 * stream holds the fleet or only a chunk of it. Bounded: creates --vms VMs, then stops everything it started.
 *
 *   npm run build && node e2e/dist/bench/fleet-watch.bench.js --vms 5000 --rounds 10 --stalled 20
 */
const AUTH = `Basic ${Buffer.from(`${BENCH_ADMIN}:${BENCH_ADMIN_TOKEN}`).toString('base64')}`;

/** Opens a fleet watch; resolves once the answer's head arrived. */
function openWatch(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/vms?watch=true`, { headers: { authorization: AUTH } }, resolve);
    req.once('error', reject);
    req.end();
  });
}

/** Milliseconds until the first line and until `count` lines of a new fleet watch arrived. */
async function timeFleet(url: string, count: number): Promise<{ first: number; all: number }> {
  const start = performance.now();
  const res = await openWatch(url);
  return new Promise((resolve, reject) => {
    let lines = 0;
    let first = 0;
    res.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
        lines++;
        if (lines === 1) {
          first = performance.now() - start;
        }
      }
      if (lines >= count) {
        resolve({ first, all: performance.now() - start });
        res.destroy();
      }
    });
    res.once('error', reject);
  });
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '5000' },
      rounds: { type: 'string', default: '10' },
      stalled: { type: 'string', default: '20' },
    },
  });
  const vmCount = Number(values.vms);
  const rounds = Number(values.rounds);
  const stalledCount = Number(values.stalled);

  const cluster = await startBenchCluster();
  try {
    const { client, url } = cluster;
    const pid = cluster.controller.child.pid ?? 0;
    process.stderr.write(`creating ${vmCount} VMs...\n`);
    await timedPool(vmCount, 16, (i) =>
      client.vms.create({ name: `watch-${i}`, image: 'img', labels: { i: String(i % 7) } }),
    );

    process.stderr.write(`timing ${rounds} fleet watches and lists...\n`);
    const firsts: number[] = [];
    const alls: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const { first, all } = await timeFleet(url, vmCount);
      firsts.push(first);
      alls.push(all);
    }
    const lists = await timedPool(rounds, 1, () => client.vms.list());

    process.stderr.write(`opening ${stalledCount} watches that read nothing...\n`);
    await settle(2000);
    const before = rssMiB(pid);
    const stalled: IncomingMessage[] = [];
    for (let i = 0; i < stalledCount; i++) {
      const res = await openWatch(url);
      res.pause();
      stalled.push(res);
    }
    await settle(5000);
    const after = rssMiB(pid);
    for (const res of stalled) {
      res.destroy();
    }

    const p = (samples: number[]) => {
      const s = summarise(samples);
      return `${formatMs(s.p50)} | ${formatMs(s.max)}`;
    };
    console.log(
      `Fleet watch, ${vmCount} VMs, controller on Postgres ${cluster.postgres} (loopback), ${rounds} rounds\n`,
    );
    console.log('| what | p50 ms | max ms |');
    console.log('|---|---|---|');
    console.log(`| GET /v1/vms?watch=true: first line | ${p(firsts)} |`);
    console.log(`| GET /v1/vms?watch=true: all ${vmCount} ADDED lines | ${p(alls)} |`);
    console.log(`| GET /v1/vms (the whole list, parsed) | ${p(lists)} |`);
    console.log(
      `\nController RSS with ${stalledCount} fleet watches whose clients read nothing: ${before.toFixed(0)} → ` +
        `${after.toFixed(0)} MiB (${((after - before) / stalledCount).toFixed(2)} MiB a stream)`,
    );
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
