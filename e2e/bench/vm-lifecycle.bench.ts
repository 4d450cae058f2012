import { parseArgs } from 'node:util';
import { startBenchCluster } from './bench-cluster';
import { formatMs, summarise, timedPool } from './stats';
import { createUntilRunning } from './support/vm-running';

/**
 * VM lifecycle benchmark: a controller on a throwaway Postgres cluster and synthetic workers with zero delays. Each
 * sample creates a VM, follows its watch stream until the worker reports it `running`, and deletes it — the path a CI
 * job takes (API → scheduler → SyncVms over gRPC → worker → state report). Bounded by --vms.
 *
 *   npm run bench:vm-lifecycle -- --vms 200 --concurrency 1 --workers 2
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '1' },
      workers: { type: 'string', default: '2' },
    },
  });
  const vmCount = Number(values.vms);
  const concurrency = Number(values.concurrency);
  const workers = Number(values.workers);
  const cluster = await startBenchCluster({ workers });
  try {
    const toRunning: number[] = [];
    process.stderr.write(`creating ${vmCount} VMs (${concurrency} at a time) on ${workers} synthetic workers...\n`);
    const started = performance.now();
    const deletes = await timedPool(vmCount, concurrency, async (i) => {
      toRunning.push(await createUntilRunning(cluster.client, `life-${i}`));
      const t = performance.now();
      await cluster.client.vms.delete(`life-${i}`);
      return performance.now() - t;
    });
    const seconds = (performance.now() - started) / 1000;
    const run = summarise(toRunning);
    console.log(
      `VM lifecycle, ${vmCount} VMs, ${workers} synthetic workers (zero delays), Postgres ${cluster.postgres}, loopback\n`,
    );
    console.log('| operation | samples | p50 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|');
    console.log(
      `| create → running (${concurrency} at a time) | ${run.count} | ${formatMs(run.p50)} | ${formatMs(run.p99)} | ${formatMs(run.max)} |`,
    );
    const del = summarise(deletes);
    console.log(
      `| DELETE /v1/vms/{name} | ${del.count} | ${formatMs(del.p50)} | ${formatMs(del.p99)} | ${formatMs(del.max)} |`,
    );
    console.log(`\nThroughput: ${(vmCount / seconds).toFixed(1)} VM lifecycles/s`);
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
