/**
 * The live VM list shared by the VMs and Fleet pages: `GET /v1/vms?watch=true` (NDJSON: one ADDED per existing VM,
 * then one line per change), reconnecting with backoff. While the controller does not offer the fleet watch, one list
 * is read instead and the page says that it is not live (issue 16: no polling of the whole list every second).
 */
import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { api } from './api';
import { clearProblem, describeError, reportProblem } from './errors';
import { watchNdjson } from './ndjson';
import { credentials } from './session';
import type { Vm, WatchMessage } from './types';

export type VmListState = 'connecting' | 'live' | 'reconnecting' | 'snapshot';

export const vms = signal<ReadonlyMap<string, Vm>>(new Map());
export const vmListState = signal<VmListState>('connecting');
/** Why the list is not live (state `reconnecting` or `snapshot`). */
export const vmListNote = signal('');

const PROBLEM_KEY = 'vm-list';

let users = 0;
let stop: (() => void) | undefined;
let stopTimer: ReturnType<typeof setTimeout> | undefined;

function apply(message: WatchMessage<Vm>, seen: Set<string>): void {
  const next = new Map(vms.value);
  const vm = message.object;
  if (message.type === 'DELETED') {
    next.delete(vm.name);
  } else {
    const known = next.get(vm.name);
    // A line older than what is shown (same incarnation, lower version) changes nothing.
    if (known && known.uid === vm.uid && known.version > vm.version) {
      return;
    }
    next.set(vm.name, vm);
    seen.add(vm.name);
  }
  vms.value = next;
}

/** One plain list, for the controllers without the fleet watch, and after a reconnect to drop VMs deleted meanwhile. */
async function readList(): Promise<Vm[] | undefined> {
  const creds = credentials.value;
  return creds ? api<Vm[]>(creds, 'GET', '/v1/vms') : undefined;
}

async function snapshot(): Promise<void> {
  try {
    const list = await readList();
    if (list) {
      vms.value = new Map(list.map((vm) => [vm.name, vm]));
      clearProblem(PROBLEM_KEY);
    }
  } catch (err) {
    reportProblem(PROBLEM_KEY, err, false, 'Could not list the VMs');
  }
}

function start(): void {
  const creds = credentials.value;
  if (!creds) {
    return;
  }
  vmListState.value = 'connecting';
  let seen = new Set<string>();
  let opened = 0;
  stop = watchNdjson<WatchMessage<Vm>>(creds, '/v1/vms?watch=true', {
    onOpen: () => {
      opened += 1;
      seen = new Set();
      vmListState.value = 'live';
      vmListNote.value = '';
      clearProblem(PROBLEM_KEY);
      if (opened > 1) {
        // The stream starts again with every VM that exists; the ones deleted while it was down send nothing.
        const thisStream = seen;
        readList()
          .then((list) => {
            if (!list) {
              return;
            }
            const exists = new Set(list.map((vm) => vm.name));
            const next = new Map([...vms.value].filter(([name]) => exists.has(name) || thisStream.has(name)));
            if (next.size !== vms.value.size) {
              vms.value = next;
            }
          })
          .catch(() => undefined);
      }
    },
    onMessage: (message) => apply(message, seen),
    onInterrupted: (err, retryInMs) => {
      vmListState.value = 'reconnecting';
      vmListNote.value = `Live updates stopped: ${describeError(err).replace(/\.?$/, '.')} Next try in ${Math.ceil(retryInMs / 1000)} s.`;
      reportProblem(PROBLEM_KEY, err, true, 'Lost the live VM list');
    },
    onUnsupported: (err) => {
      vmListState.value = 'snapshot';
      vmListNote.value = `This controller does not stream VM changes (${err.message}): the list is as of loading; reload the page to refresh it.`;
      void snapshot();
    },
  });
}

/** After the console's own change: a live list sees it by itself; a snapshot is read again. */
export function refreshAfterChange(): void {
  if (vmListState.value === 'snapshot') {
    void snapshot();
  }
}

function stopNow(): void {
  clearTimeout(stopTimer);
  stop?.();
  stop = undefined;
  vms.value = new Map();
  clearProblem(PROBLEM_KEY);
}

// Another account (or none) must not see the previous one's list.
credentials.subscribe(() => {
  if (stop) {
    stopNow();
    if (users > 0) {
      start();
    }
  }
});

/**
 * Keeps the live VM list running while a component using it is mounted, and a minute longer: moving between the
 * VMs and Fleet pages keeps the stream.
 */
export function useVmList(): void {
  useEffect(() => {
    users += 1;
    clearTimeout(stopTimer);
    if (!stop) {
      start();
    }
    return () => {
      users -= 1;
      if (users === 0) {
        stopTimer = setTimeout(stopNow, 60_000);
      }
    };
  }, []);
}
