import { readFileSync } from 'node:fs';
import { GroveWorker } from './grove-worker';
import { readMachineId } from './machine-id';
import { loadWorkerConfig, WorkerConfigError } from './config/worker-config';
import { createRuntime } from './runtime/create-runtime';
import { createWorkerLog } from './worker-log';

/**
 * Entry point of the worker process; `grove worker run` spawns it with the same arguments. It registers, keeps its
 * session with the controller, reconnects on its own and runs the VMs placed on it; SIGINT/SIGTERM stop and delete
 * those VMs and end it.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadWorkerConfig(process.argv.slice(2), () => readFileSync(0, 'utf8'));
  } catch (err) {
    if (err instanceof WorkerConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createWorkerLog(config.name, config.logFile);
  const runtime = createRuntime(config, log);
  const worker = new GroveWorker({
    session: {
      controllerUrl: config.controllerUrl,
      serviceAccountName: config.credentials.serviceAccountName,
      serviceAccountToken: config.credentials.serviceAccountToken,
      certificatePem: config.credentials.certificatePem,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      identity: {
        name: config.name,
        machineId: await readMachineId(),
        labels: config.labels,
        resources: config.resources,
        defaultCpu: config.defaultCpu,
        defaultMemory: config.defaultMemory,
        runtime: runtime.reportedRuntime,
        // The synthetic runtime stands in for Apple Silicon, so that VMs created with the defaults land on it.
        arch: config.runtime === 'synthetic' || process.arch === 'arm64' ? 'arm64' : 'amd64',
      },
    },
    runtime,
    log,
    endpointAddress: config.endpointAddress,
    hostProcesses: config.hostProcesses,
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      log(`received ${signal} again, exiting now`);
      process.exit(1);
    }
    log(`received ${signal}, stopping and deleting this worker's VMs`);
    stopping = worker.stop();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  await worker.run();
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
