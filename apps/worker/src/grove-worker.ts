import { ApiError, type GroveClient } from '@grove/client';
import { WORKER_CAPABILITY_HOST_PROCESSES, type Vm, type VmEvent } from '@grove/resources';
import { ExecServer } from './exec/exec-server';
import { Reconciler, type ControllerPort, type VmStateReport } from './reconcile/reconciler';
import type { VmRuntime } from './runtime/vm-runtime';
import { TunnelServer } from './session/tunnel-server';
import type { TunnelClientCall, TunnelOpenFrame } from './session/tunnel-pool';
import { WorkerSession, type SessionOptions } from './session/worker-session';
import { startupScriptRunner } from './vms/startup-script';

/** Orchard's worker polls its VMs every 5 s besides reacting to SyncVms (orchard.md §5.1). */
export const SYNC_POLL_INTERVAL_MS = 5_000;

export interface GroveWorkerOptions {
  session: Omit<SessionOptions, 'log'>;
  runtime: VmRuntime;
  log: (line: string) => void;
  syncIntervalMs?: number;
  /** Where VM endpoints listen (`--endpoint-address`); default loopback. */
  endpointAddress?: string;
  /**
   * Whether VMs' host processes run here (orchard-2026.md §1.2.3); default true. Off (`--no-host-processes`), the
   * worker leaves capability `host-processes` out, and a VM that declares them anyway fails.
   */
  hostProcesses?: boolean;
}

/** The controller side of the reconciler over REST; reports about VMs deleted or replaced meanwhile are dropped. */
export function restControllerPort(client: GroveClient): ControllerPort {
  return {
    listVms: (workerName: string): Promise<Vm[]> => client.vms.list({ worker: workerName }),
    reportState: async (name: string, report: VmStateReport): Promise<void> => {
      try {
        await client.vms.updateState(name, report);
      } catch (err) {
        if (err instanceof ApiError && (err.status === 404 || err.status === 409)) {
          return;
        }
        throw err;
      }
    },
    appendEvents: (name: string, events: VmEvent[]): Promise<void> => client.vms.appendEvents(name, events),
  };
}

/**
 * A worker: the session with the controller, the reconciler and the VM runtime wired together. Each new session
 * syncs at once, then on every SyncVms, on every local VM change, and every five seconds; every pass also
 * garbage-collects on-disk clones the controller no longer knows (Reconciler).
 */
export class GroveWorker {
  readonly session: WorkerSession;
  readonly reconciler: Reconciler;
  readonly tunnels: TunnelServer;
  readonly execs: ExecServer;
  private poll: NodeJS.Timeout | undefined;

  constructor(private readonly options: GroveWorkerOptions) {
    const { log, runtime } = options;
    const hostProcesses = options.hostProcesses !== false;
    this.session = new WorkerSession({
      ...options.session,
      identity: {
        ...options.session.identity,
        capabilities: [
          ...(options.session.identity.capabilities ?? []),
          ...(hostProcesses ? [WORKER_CAPABILITY_HOST_PROCESSES] : []),
        ],
      },
      log,
    });
    const controller = restControllerPort(this.session.api);
    this.reconciler = new Reconciler({
      workerName: options.session.identity.name,
      runtime,
      controller,
      runStartupScript: startupScriptRunner({
        runtime,
        events: (name, events) => controller.appendEvents(name, events),
        log,
      }),
      log,
      endpointAddress: options.endpointAddress,
      hostProcesses,
    });
    this.tunnels = new TunnelServer({
      connectVm: (vmUid, port, signal) => this.reconciler.connect(vmUid, port, signal),
      guestAgent: (vmUid) => this.reconciler.guestAgent(vmUid),
      ...(hostProcesses
        ? { connectHostProcess: (vmUid, name, signal) => this.reconciler.connectHostProcess(vmUid, name, signal) }
        : {}),
      minRttMs: () => this.session.minRttMs,
      log,
    });
    this.execs = new ExecServer({
      guestAgent: (vmUid) => this.reconciler.guestAgent(vmUid),
      connectVm: (vmUid, port, signal) => this.reconciler.connect(vmUid, port, signal),
      log,
    });
    // The first frame of a used tunnel says what it is for: a port-forward session or an exec session.
    this.session.on('tunnel', (first: TunnelOpenFrame, call: TunnelClientCall) => {
      if (first.kind === 'open') {
        void this.tunnels.serve(first, call);
      } else {
        void this.execs.serve(first, call);
      }
    });
    this.session.on('connected', () => this.onConnected());
    this.session.on('disconnected', () => this.stopPolling());
    this.session.on('sync', () => void this.reconciler.requestSync());
    this.session.on(
      'resolveIp',
      (request: { vmUid: string }, reply: (result: { ip?: string; error?: string }) => void) => {
        const abort = AbortSignal.timeout(65_000);
        this.reconciler.resolveIp(request.vmUid, abort).then(
          (ip) => reply({ ip }),
          (err: Error) => reply({ error: err.message }),
        );
      },
    );
  }

  /** Runs until `stop()`: starts the runtime, then keeps the session (reconnecting as needed). */
  async run(): Promise<void> {
    await this.options.runtime.start();
    this.options.log(`VM runtime: ${this.options.runtime.kind}`);
    await this.session.run();
  }

  /** Ends the session, then stops and deletes this worker's VMs and closes the runtime. */
  async stop(): Promise<void> {
    this.stopPolling();
    this.session.stop();
    this.tunnels.closeAll('the worker is shutting down');
    this.execs.closeAll('the worker is shutting down');
    await this.reconciler.close();
    await this.options.runtime.close();
  }

  private onConnected(): void {
    this.stopPolling();
    void this.reconciler.requestSync();
    const interval = this.options.syncIntervalMs ?? SYNC_POLL_INTERVAL_MS;
    if (interval > 0) {
      this.poll = setInterval(() => void this.reconciler.requestSync(), interval);
    }
  }

  private stopPolling(): void {
    clearInterval(this.poll);
    this.poll = undefined;
  }
}
