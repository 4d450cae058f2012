import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import type { ExecServer } from './exec/exec-server';
import type { Reconciler } from './reconcile/reconciler';
import type { VmRuntime } from './runtime/vm-runtime';
import type { TunnelServer } from './session/tunnel-server';
import type { Socket } from 'node:net';
import type { PortForwardOpenFrame, TunnelClientCall, TunnelOpenFrame } from './session/tunnel-pool';
import type { WorkerSession } from './session/worker-session';

/** Orchard's worker polls its VMs every 5 s besides reacting to SyncVms (orchard.md §5.1). */
export const SYNC_POLL_INTERVAL_MS = 5_000;

/** The parts a worker is wired from; the Nest modules (worker.module.ts) make them. */
export interface GroveWorkerParts {
  session: WorkerSession;
  reconciler: Reconciler;
  tunnels: TunnelServer;
  execs: ExecServer;
  runtime: VmRuntime;
  log: (line: string) => void;
  /** How often VMs are synced besides SyncVms; default 5 s, 0 for only on events (tests). */
  syncIntervalMs?: number;
}

/**
 * A worker: the session with the controller, the reconciler and the VM runtime wired together. Each new session
 * syncs at once, then on every SyncVms, on every local VM change, and every five seconds; every pass also
 * garbage-collects on-disk clones the controller no longer knows (Reconciler). As the root provider of the worker's
 * Nest application it starts when the application has bootstrapped and stops before it shuts down.
 */
export class GroveWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly session: WorkerSession;
  readonly reconciler: Reconciler;
  readonly tunnels: TunnelServer;
  readonly execs: ExecServer;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly parts: GroveWorkerParts) {
    ({ session: this.session, reconciler: this.reconciler, tunnels: this.tunnels, execs: this.execs } = parts);
    // The first frame of a used tunnel says what it is for: a port-forward session or an exec session.
    this.session.on('tunnel', (first: TunnelOpenFrame, call: TunnelClientCall) => {
      if (first.kind === 'open') {
        void this.tunnels.serve(first, call);
      } else {
        void this.execs.serve(first, call);
      }
    });
    this.session.on(
      'link',
      (open: PortForwardOpenFrame, socket: Socket, announceEnd?: () => void) =>
        void this.tunnels.serveLink(open, socket, announceEnd),
    );
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

  /**
   * Starts `run()` once every module is ready (the health and metrics listener listens by then), without holding up
   * the application's start: the worker runs until it is stopped, and `finished` says when.
   */
  onApplicationBootstrap(): void {
    this.running = this.run();
    // Whoever awaits `finished` (main.ts) gets the failure; this only keeps it from counting as unhandled meanwhile.
    this.running.catch(() => undefined);
  }

  /** The application is closing (SIGTERM, SIGINT): stop as `stop()` says, before the listeners close. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** The promise of the run started at bootstrap: resolves once the session loop has ended, rejects if it failed. */
  get finished(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Runs until `stop()`: starts the runtime, then keeps the session (reconnecting as needed). */
  async run(): Promise<void> {
    await this.parts.runtime.start();
    this.parts.log(`VM runtime: ${this.parts.runtime.kind}`);
    await this.session.run();
  }

  /** Ends the session, then stops and deletes this worker's VMs and closes the runtime. */
  async stop(): Promise<void> {
    this.stopPolling();
    this.session.stop();
    this.tunnels.closeAll('the worker is shutting down');
    this.execs.closeAll('the worker is shutting down');
    await this.reconciler.close();
    await this.parts.runtime.close();
  }

  private onConnected(): void {
    this.stopPolling();
    void this.reconciler.requestSync();
    const interval = this.parts.syncIntervalMs ?? SYNC_POLL_INTERVAL_MS;
    if (interval > 0) {
      this.poll = setInterval(() => void this.reconciler.requestSync(), interval);
    }
  }

  private stopPolling(): void {
    clearInterval(this.poll);
    this.poll = undefined;
  }
}
