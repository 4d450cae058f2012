import { readFileSync } from 'node:fs';
import { GroveWorker } from './grove-worker';
import { loadWorkerConfig, WorkerConfigError } from './config/worker-config';
import { createWorkerApplication } from './worker.module';
import { createWorkerLog } from './worker-log';

/**
 * Entry point of the worker process; `grove worker run` spawns it with the same arguments. It registers, keeps its
 * session with the controller, reconnects on its own and runs the VMs placed on it; SIGINT/SIGTERM stop and delete
 * those VMs and end it (a second signal ends it at once, with exit code 1). The worker is a Nest application
 * (worker.module.ts); closing it runs the stop.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadWorkerConfig(process.argv.slice(2), () => readFileSync(0, 'utf8'), process.env);
  } catch (err) {
    if (err instanceof WorkerConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createWorkerLog(config.name, config.logFile);
  const app = await createWorkerApplication({ config, log });
  const worker = app.get(GroveWorker);
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      log(`received ${signal} again, exiting now`);
      process.exit(1);
    }
    log(`received ${signal}, stopping and deleting this worker's VMs`);
    stopping = app.close();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  await worker.finished;
  await stopping;
  log('stopped');
  await log.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`Error: the worker failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
