import { startBenchCluster } from '../bench-cluster';
import { summarise, type Summary } from '../stats';
import { CpuWindow } from './fleet-observe';
import { IMAGE, memoryOf, type FleetConfig, type Memory } from './fleet-phases';
import { attemptMeasure } from './measure';
import { createUntilRunning } from './vm-running';

export interface RealWorkersResult {
  toRunning?: Summary;
  cpuPercent?: number;
  memory: Memory;
  errors: string[];
}

/** Phase (c): real synthetic worker processes; create → running, 8 at a time, each VM deleted once it runs. */
export async function realWorkers(config: FleetConfig): Promise<RealWorkersResult> {
  const label = 'real workers';
  process.stderr.write(`${label}: starting a controller and ${config.realWorkers} synthetic worker processes\n`);
  const cluster = await startBenchCluster({ workers: config.realWorkers });
  const errors: string[] = [];
  try {
    const cpu = new CpuWindow(cluster.controller.child.pid ?? -1);
    const samples: number[] = [];
    await attemptMeasure(`${label}: `, `${config.realVms} VMs create → running, 8 at a time`, 600_000, errors, () => {
      let next = 0;
      const lane = async () => {
        while (next < config.realVms) {
          const name = `real-${next++}`;
          samples.push(await createUntilRunning(cluster.client, name, IMAGE));
          await cluster.client.vms.delete(name);
        }
      };
      return Promise.all(Array.from({ length: 8 }, lane));
    });
    return { toRunning: summarise(samples), cpuPercent: cpu.end().percent, memory: memoryOf(cluster), errors };
  } finally {
    await cluster.stop();
  }
}
