/** The VMs page: the live list with search and filters, the create form, and per-VM actions. */
import { useComputed, useSignal } from '@preact/signals';
import { ago } from './clock';
import { labelPairs } from './format';
import { vmHref } from './router';
import { can, rolesKnown } from './session';
import type { Vm } from './types';
import { VmActions } from './vm-actions';
import { VmCreateForm } from './vm-create-form';
import { StatusBadge } from './vm-page';
import { useVmList, vmListNote, vmListState, vms } from './vm-store';

interface Filters {
  search: string;
  status: string;
  worker: string;
  label: string;
}

function matches(vm: Vm, f: Filters): boolean {
  if (f.status && vm.status !== f.status) {
    return false;
  }
  if (f.worker && (vm.worker || '(none)') !== f.worker) {
    return false;
  }
  if (f.label && !labelPairs(vm.labels).includes(f.label)) {
    return false;
  }
  const q = f.search.trim().toLowerCase();
  if (q) {
    const hay = [vm.name, vm.image, vm.worker, vm.status, vm.status_message, ...labelPairs(vm.labels)]
      .join(' ')
      .toLowerCase();
    return q.split(/\s+/).every((word) => hay.includes(word));
  }
  return true;
}

function distinct(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => a.localeCompare(b));
}

export function ListState() {
  const state = vmListState.value;
  if (state === 'live') {
    return (
      <span class="badge badge-running" title="Updated as VMs change">
        live
      </span>
    );
  }
  if (state === 'connecting') {
    return <span class="badge">connecting…</span>;
  }
  return (
    <p class={`banner ${state === 'reconnecting' ? 'banner-warn' : 'banner-info'}`} role="status">
      {state === 'reconnecting' ? 'Reconnecting… ' : ''}
      {vmListNote.value}
    </p>
  );
}

export function VmsPage() {
  useVmList();
  const filters = useSignal<Filters>({ search: '', status: '', worker: '', label: '' });
  const creating = useSignal(false);
  const all = useComputed(() => [...vms.value.values()].sort((a, b) => a.name.localeCompare(b.name)));
  const shown = useComputed(() => all.value.filter((vm) => matches(vm, filters.value)));
  const f = filters.value;
  const set = (key: keyof Filters, value: string) => (filters.value = { ...filters.value, [key]: value });
  const workers = distinct(all.value.map((vm) => vm.worker || '(none)'));
  const labels = distinct(all.value.flatMap((vm) => labelPairs(vm.labels)));
  const writable = can('compute:write');
  const state = vmListState.value;

  return (
    <section aria-labelledby="vms-title">
      <h1 id="vms-title">
        VMs <span class="muted">({all.value.length})</span>
        {(state === 'live' || state === 'connecting') && <ListState />}
      </h1>
      {state !== 'live' && state !== 'connecting' && <ListState />}
      {!writable && rolesKnown.value && (
        <p class="banner banner-info" role="note">
          <span>Read only: this account may look at VMs but not create, change or delete them (no compute:write).</span>
        </p>
      )}
      {writable &&
        (creating.value ? (
          <VmCreateForm
            onClose={() => {
              creating.value = false;
              // Back to the button that opened it once it is rendered again.
              requestAnimationFrame(() => document.getElementById('create-vm-button')?.focus());
            }}
          />
        ) : (
          <p>
            <button type="button" id="create-vm-button" class="btn btn-primary" onClick={() => (creating.value = true)}>
              Create VM
            </button>
          </p>
        ))}
      <div class="toolbar" role="search">
        <label class="grow">
          Search
          <input
            type="search"
            aria-label="Search VMs"
            placeholder="name, image, worker, label…"
            value={f.search}
            onInput={(e) => set('search', e.currentTarget.value)}
          />
        </label>
        <label>
          Status
          <select aria-label="Filter by status" value={f.status} onChange={(e) => set('status', e.currentTarget.value)}>
            <option value="">all</option>
            <option value="pending">pending</option>
            <option value="running">running</option>
            <option value="failed">failed</option>
          </select>
        </label>
        <label>
          Worker
          <select aria-label="Filter by worker" value={f.worker} onChange={(e) => set('worker', e.currentTarget.value)}>
            <option value="">all</option>
            {workers.map((w) => (
              <option key={w} value={w}>
                {w}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label
          <select aria-label="Filter by label" value={f.label} onChange={(e) => set('label', e.currentTarget.value)}>
            <option value="">all</option>
            {labels.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="table-wrap">
        <table class="table-cards" aria-label="VMs">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Worker</th>
              <th scope="col">Image</th>
              <th scope="col">Age</th>
              <th scope="col">Restarts</th>
              <th scope="col">Labels</th>
              {writable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {shown.value.map((vm) => (
              <VmRow key={vm.name} vm={vm} writable={writable} />
            ))}
          </tbody>
        </table>
        {shown.value.length === 0 && (
          <p class="muted empty">
            {all.value.length === 0 ? (state === 'connecting' ? 'Loading…' : 'No VMs yet.') : 'No VM matches.'}
          </p>
        )}
      </div>
    </section>
  );
}

function VmRow({ vm, writable }: { vm: Vm; writable: boolean }) {
  return (
    <tr data-vm={vm.name}>
      <td data-label="Name">
        <a href={vmHref(vm.name)}>{vm.name}</a>
      </td>
      <td data-label="Status">
        <div>
          <StatusBadge status={vm.status} /> {vm.powerState !== 'running' && <span class="badge">{vm.powerState}</span>}
          {(vm.status !== 'running' || vm.powerState !== 'running') && vm.status_message && (
            <span class="status-message">{vm.status_message}</span>
          )}
        </div>
      </td>
      <td data-label="Worker">{vm.worker || <span class="muted">unassigned</span>}</td>
      <td data-label="Image" class="image">
        {vm.image}
      </td>
      <td data-label="Age">
        <time dateTime={vm.createdAt} title={vm.createdAt}>
          {ago(vm.createdAt)}
        </time>
      </td>
      <td data-label="Restarts">{vm.restart_count}</td>
      <td data-label="Labels">
        <span class="labels">
          {labelPairs(vm.labels).map((l) => (
            <span key={l} class="label">
              {l}
            </span>
          ))}
        </span>
      </td>
      {writable && (
        <td data-label="Actions">
          <VmActions vm={vm} />
        </td>
      )}
    </tr>
  );
}
