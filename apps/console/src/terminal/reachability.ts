import { api, ApiError, seg, type Credentials } from '../api';
import type { Vm, Worker } from '../types';

/*
 * Why a WebSocket to a VM did not open. A browser never sees the status of a refused WebSocket handshake (only a
 * close with code 1006), so the console asks the REST API what stands in the way: the VM, its worker, the controller.
 */

/**
 * A worker unseen for longer is offline (the controller's default, Orchard's; the resources library's constant is not
 * bundled into the console).
 */
const WORKER_OFFLINE_AFTER_MS = 3 * 60 * 1000;

/** What stands between the page and a VM's WebSocket endpoints; undefined when nothing visible does. */
export interface Obstacle {
  message: string;
  /** Nothing changes by retrying at once (the VM is gone or not running, the credentials were refused). */
  final: boolean;
}

/**
 * Whether the VM's terminal, screen and ports can answer: it runs and is not stopped or suspended (a stopped VM keeps
 * status `running`; its `powerState` says it was stopped).
 */
export function vmIsUp(vm: Pick<Vm, 'status' | 'powerState'>): boolean {
  return vm.status === 'running' && vm.powerState === 'running';
}

/** The reason a VM is not running, for a sentence: `pending (pulling the image)`, `stopped (VM stopped)`. */
export function vmNotRunning(vm: Pick<Vm, 'name' | 'status' | 'status_message' | 'powerState'>): string {
  const state = vm.status === 'running' && vm.powerState !== 'running' ? vm.powerState : vm.status;
  const detail = vm.status_message ? ` (${vm.status_message})` : '';
  return `VM ${vm.name} is not running: it is ${state}${detail}.`;
}

/** Looks for what prevents reaching VM `name`: the controller, the VM, its worker. */
export async function findObstacle(creds: Credentials, name: string): Promise<Obstacle | undefined> {
  let vm: Vm;
  try {
    vm = await api<Vm>(creds, 'GET', `/v1/vms/${seg(name)}`);
  } catch (err) {
    return fromApiError(err, `VM ${name}`);
  }
  if (!vmIsUp(vm)) {
    return { message: vmNotRunning(vm), final: true };
  }
  if (!vm.worker) {
    return undefined;
  }
  let worker: Worker;
  try {
    worker = await api<Worker>(creds, 'GET', `/v1/workers/${seg(vm.worker)}`);
  } catch (err) {
    // An account that may connect but not read workers learns nothing here: not an obstacle in itself.
    return err instanceof ApiError && err.status === 403 ? undefined : fromApiError(err, `worker ${vm.worker}`);
  }
  return workerObstacle(worker, new Date());
}

/** The worker of a running VM cannot carry a session: it has no live session, or has not been seen for too long. */
export function workerObstacle(worker: Worker, now: Date): Obstacle | undefined {
  if (worker.session && !worker.session.up) {
    return {
      message: `The worker ${worker.name} is unreachable: the controller replica that held its connection is gone.`,
      final: false,
    };
  }
  const seen = Date.parse(worker.last_seen);
  if (!worker.session || Number.isNaN(seen) || now.getTime() - seen > WORKER_OFFLINE_AFTER_MS) {
    const since = Number.isNaN(seen) ? '' : ` (last seen ${new Date(seen).toLocaleString()})`;
    return { message: `The worker ${worker.name} is unreachable${since}.`, final: false };
  }
  return undefined;
}

/** A refused REST call as an obstacle. */
export function fromApiError(err: unknown, what: string): Obstacle {
  if (err instanceof ApiError) {
    switch (err.status) {
      case 0:
        return { message: 'The controller is unreachable.', final: false };
      case 401:
        return { message: 'The controller refused the credentials: sign in again.', final: true };
      case 403:
        return { message: `This account may not do that (${err.message}).`, final: true };
      case 404:
        return { message: `${what} does not exist.`, final: true };
      default:
        return { message: err.message, final: err.status < 500 };
    }
  }
  return { message: err instanceof Error ? err.message : String(err), final: false };
}

/**
 * Whether the reconnectable exec session `id` of VM `name` still exists, asked without a WebSocket: a plain GET of
 * the exec endpoint with only `session` is refused 400 (not a handshake) when the session exists and 404 when it
 * does not. Undefined when the answer says neither.
 */
export async function execSessionExists(creds: Credentials, name: string, id: string): Promise<boolean | undefined> {
  try {
    await api<unknown>(creds, 'GET', `/v1/vms/${seg(name)}/exec?session=${encodeURIComponent(id)}&wait=0`);
    return undefined;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 400 || err.status === 404)) {
      return err.status === 400;
    }
    return undefined;
  }
}
