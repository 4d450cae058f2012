import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO, startBenchCluster } from './bench-cluster';
import { formatMs, summarise, timedPool, type Summary } from './stats';

/**
 * Control-plane benchmark: a real controller process on a throwaway Postgres cluster (loopback only). Measures
 * VM creation latency under concurrency, `GET /v1/vms` with every VM in the list, and `grove --help` start-up.
 * Bounded: it creates --vms VMs, lists --lists times, then stops everything it started.
 *
 *   npm run build && node e2e/dist/bench/control-plane.bench.js --vms 10000 --concurrency 16 --lists 30
 */
const CLI_MAIN = join(REPO, 'apps', 'cli', 'dist', 'main.js');

function row(what: string, s: Summary): string {
  return `| ${what} | ${s.count} | ${formatMs(s.p50)} | ${formatMs(s.p99)} | ${formatMs(s.max)} |`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '16' },
      lists: { type: 'string', default: '30' },
    },
  });
  const vmCount = Number(values.vms);
  const concurrency = Number(values.concurrency);
  const lists = Number(values.lists);

  const cluster = await startBenchCluster();
  try {
    const { client } = cluster;
    process.stderr.write(`creating ${vmCount} VMs with ${concurrency} in flight...\n`);
    const started = performance.now();
    const creates = await timedPool(vmCount, concurrency, (i) =>
      client.vms.create({
        name: `bench-${i}`,
        image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest',
        labels: { i: String(i % 7) },
      }),
    );
    const createSeconds = (performance.now() - started) / 1000;

    process.stderr.write(`listing ${lists} times...\n`);
    const listLatencies = await timedPool(lists, 1, async () => {
      const vms = await client.vms.list();
      if (vms.length !== vmCount) {
        throw new Error(`expected ${vmCount} VMs, got ${vms.length}`);
      }
    });
    const getLatencies = await timedPool(500, 4, (i) => client.vms.get(`bench-${(i * 7919) % vmCount}`));

    const help = Array.from({ length: 20 }, () => {
      const t = performance.now();
      spawnSync(process.execPath, [CLI_MAIN, '--help'], { stdio: 'ignore' });
      return performance.now() - t;
    });

    console.log(`Control plane, ${vmCount} VMs, controller on Postgres ${cluster.postgres} (loopback)\n`);
    console.log('| operation | samples | p50 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|');
    console.log(row(`POST /v1/vms (${concurrency} concurrent)`, summarise(creates)));
    console.log(row(`GET /v1/vms (all ${vmCount})`, summarise(listLatencies)));
    console.log(row('GET /v1/vms/{name} (4 concurrent)', summarise(getLatencies)));
    console.log(row('grove --help (process start to exit)', summarise(help)));
    console.log(`\nVM creation throughput: ${(vmCount / createSeconds).toFixed(0)} VMs/s`);
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
