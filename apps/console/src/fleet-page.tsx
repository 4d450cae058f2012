/**
 * The Fleet page: each worker with its state (online / paused / offline), its session, what its VMs take of each
 * resource, and its VMs (from the live VM list); pause, resume and drain (pause, then count the VMs left until only
 * failed ones remain, as `grove pause worker --wait` does).
 */
import { signal, useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { api, seg } from './api';
import { clearProblem, reportProblem } from './errors';
import { ago } from './clock';
import { runAction, startPolling } from './requests';
import { vmHref } from './router';
import { can, credentials } from './session';
import type { Vm, Worker } from './types';
import { ListState } from './vms-page';
import { useVmList, vmListState, vms } from './vm-store';

/** `GET /v1/status`'s view of a worker (libs/resources WorkerStatus). */
interface WorkerStatus {
  name: string;
  state: 'online' | 'offline' | 'paused';
  session: 'up' | 'lost' | 'none';
  sessionReplica?: string;
  lastSeen: string;
  vms: number;
  resources: Record<string, { used: number; total: number }>;
}

const POLL_MS = 5000;
const PROBLEM_KEY = 'workers';

/** Workers being drained from this page (kept across page changes). */
const draining = signal<ReadonlySet<string>>(new Set());

/** VMs still on `worker` that hold something there: every VM but the failed ones. */
function remaining(all: Iterable<Vm>, worker: string): Vm[] {
  return [...all].filter((vm) => vm.worker === worker && vm.status !== 'failed');
}

function useWorkers() {
  const workers = useSignal<Worker[] | undefined>(undefined);
  const status = useSignal<Map<string, WorkerStatus>>(new Map());
  const creds = credentials.value;
  useEffect(() => {
    if (!creds) {
      return;
    }
    const stop = startPolling(async (stopped) => {
      try {
        const [list, cluster] = await Promise.all([
          api<Worker[]>(creds, 'GET', '/v1/workers'),
          api<{ workers: WorkerStatus[] }>(creds, 'GET', '/v1/status').catch(() => undefined),
        ]);
        if (stopped()) {
          return;
        }
        workers.value = [...list].sort((a, b) => a.name.localeCompare(b.name));
        if (cluster) {
          status.value = new Map(cluster.workers.map((w) => [w.name, w]));
        }
        clearProblem(PROBLEM_KEY);
      } catch (err) {
        if (!stopped()) {
          reportProblem(PROBLEM_KEY, err, true, 'Could not read the workers');
        }
      }
    }, POLL_MS);
    return () => {
      stop();
      clearProblem(PROBLEM_KEY);
    };
  }, [creds]);
  return { workers, status };
}

export function FleetPage() {
  useVmList();
  const { workers, status } = useWorkers();
  const list = workers.value;
  const all = [...vms.value.values()];
  const unassigned = all.filter((vm) => !vm.worker);
  const listState = vmListState.value;
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">
        Fleet <span class="muted">({list?.length ?? 0} workers)</span>
        {(listState === 'live' || listState === 'connecting') && <ListState />}
      </h1>
      {listState !== 'live' && listState !== 'connecting' && <ListState />}
      {list === undefined ? (
        <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <p class="muted">No worker has registered yet.</p>
      ) : (
        <div class="workers">
          {list.map((w) => (
            <WorkerCard
              key={w.name}
              worker={w}
              status={status.value.get(w.name)}
              vms={all.filter((vm) => vm.worker === w.name)}
              onChanged={(next) => {
                workers.value = (workers.value ?? []).map((x) => (x.name === next.name ? { ...x, ...next } : x));
              }}
            />
          ))}
        </div>
      )}
      {unassigned.length > 0 && (
        <div class="card">
          <h2>Waiting for a worker ({unassigned.length})</h2>
          <VmChips vms={unassigned} />
        </div>
      )}
    </section>
  );
}

function VmChips({ vms: list }: { vms: Vm[] }) {
  return (
    <ul class="vm-chips">
      {list
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((vm) => (
          <li key={vm.name}>
            <a class={`badge badge-${vm.status}`} href={vmHref(vm.name)} title={vm.status_message || vm.status}>
              {vm.name}
            </a>
          </li>
        ))}
    </ul>
  );
}

function Meter({ name, used, total }: { name: string; used: number; total: number }) {
  const known = !Number.isNaN(used);
  const pct = !known ? 0 : total > 0 ? Math.min(100, Math.round((used / total) * 100)) : used > 0 ? 100 : 0;
  return (
    <div class="meter">
      <div class="meter-head">
        <span>{name.replace(/^org\.cirruslabs\./, '')}</span>
        <span>
          {known ? used : '–'} / {total}
        </span>
      </div>
      <div
        class="meter-bar"
        role="meter"
        aria-label={name}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={known ? used : undefined}
      >
        <div class="meter-fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function WorkerCard({
  worker,
  status,
  vms: onWorker,
  onChanged,
}: {
  worker: Worker;
  status: WorkerStatus | undefined;
  vms: Vm[];
  onChanged: (w: Worker) => void;
}) {
  const busy = useSignal(false);
  const error = useSignal('');
  const paused = worker.scheduling_paused;
  const state = status?.state ?? (paused ? 'paused' : 'online');
  const session = status?.session ?? (worker.session ? (worker.session.up ? 'up' : 'lost') : 'none');
  const resources =
    status?.resources ??
    Object.fromEntries(Object.entries(worker.resources).map(([k, total]) => [k, { used: Number.NaN, total }]));
  const isDraining = draining.value.has(worker.name);
  const left = remaining(onWorker, worker.name);

  const setPaused = (value: boolean, drain: boolean) =>
    runAction({ busy, error }, async (creds) => {
      // Only the name and the flag: a concurrent heartbeat keeps its last_seen (as `grove pause worker`).
      const next = await api<Worker>(creds, 'PUT', `/v1/workers/${seg(worker.name)}`, {
        name: worker.name,
        scheduling_paused: value,
      });
      onChanged(next);
      const set = new Set(draining.value);
      if (drain) {
        set.add(worker.name);
      } else {
        set.delete(worker.name);
      }
      draining.value = set;
    });

  return (
    <article class="card worker" aria-labelledby={`worker-${worker.name}`} data-worker={worker.name}>
      <h2 id={`worker-${worker.name}`}>
        {worker.name}
        <span class={`badge badge-${state}`}>{state}</span>
        <span class={`badge badge-${session === 'up' ? 'up' : session === 'lost' ? 'lost' : 'none'}`}>
          session {session}
        </span>
      </h2>
      <p class="muted">
        {worker.arch} · {worker.runtime} · seen {ago(worker.last_seen)} ago
        {status?.sessionReplica ? ` · replica ${status.sessionReplica}` : ''}
      </p>
      {Object.entries(resources)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, r]) => (
          <Meter key={name} name={name} used={r.used} total={r.total} />
        ))}
      <h3 class="sr-only">VMs on {worker.name}</h3>
      {onWorker.length > 0 ? <VmChips vms={onWorker} /> : <p class="muted">No VMs.</p>}
      {isDraining && (
        <p class={`banner ${left.length === 0 ? 'banner-info' : 'banner-warn'}`} role="status">
          {left.length === 0
            ? 'Drained: no VMs left (failed ones aside).'
            : `Draining: ${left.length} VM${left.length === 1 ? '' : 's'} left (${left.map((v) => v.name).join(', ')})`}
        </p>
      )}
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
      {can('compute:write') && (
        <div class="actions">
          {paused ? (
            <button
              type="button"
              class="btn btn-small"
              disabled={busy.value}
              aria-label={`Resume ${worker.name}`}
              onClick={() => void setPaused(false, false)}
            >
              Resume
            </button>
          ) : (
            <>
              <button
                type="button"
                class="btn btn-small"
                disabled={busy.value}
                aria-label={`Pause ${worker.name}`}
                onClick={() => void setPaused(true, false)}
              >
                Pause
              </button>
              <button
                type="button"
                class="btn btn-small"
                disabled={busy.value}
                aria-label={`Drain ${worker.name}`}
                onClick={() => void setPaused(true, true)}
              >
                Drain
              </button>
            </>
          )}
          {paused && !isDraining && (
            <button
              type="button"
              class="btn btn-small"
              disabled={busy.value}
              aria-label={`Drain ${worker.name}`}
              onClick={() => (draining.value = new Set([...draining.value, worker.name]))}
            >
              Drain
            </button>
          )}
        </div>
      )}
    </article>
  );
}
