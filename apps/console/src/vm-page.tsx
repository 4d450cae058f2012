import { useSignal } from '@preact/signals';
import type { FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { seg } from './api';
import { clearProblem, describeError, reportProblem } from './errors';
import { watchNdjson } from './ndjson';
import { vmHref, type VmTab } from './router';
import { credentials } from './session';
import type { Vm, WatchMessage } from './types';
import { VmOverview } from './vm-overview';
import type { VmPorts } from './vm-ports';
import type { VmScreen } from './vm-screen';
import type { VmTerminal } from './vm-terminal';

const TAB_LABELS: Record<VmTab, string> = {
  overview: 'Overview',
  terminal: 'Terminal',
  screen: 'Screen',
  ports: 'Ports',
};

type TabComponent = FunctionComponent<{ vm: Vm }>;

// The tabs load on first use: xterm.js and noVNC are most of the console's bytes (docs/console.md, front-end stack).
const TAB_MODULES: Record<Exclude<VmTab, 'overview'>, () => Promise<TabComponent>> = {
  terminal: () => import('./vm-terminal').then((m): typeof VmTerminal => m.VmTerminal),
  screen: () => import('./vm-screen').then((m): typeof VmScreen => m.VmScreen),
  ports: () => import('./vm-ports').then((m): typeof VmPorts => m.VmPorts),
};
const loadedTabs = new Map<VmTab, TabComponent>();

function LazyTab({ tab, vm }: { tab: Exclude<VmTab, 'overview'>; vm: Vm }) {
  const [Component, setComponent] = useState<TabComponent | undefined>(() => loadedTabs.get(tab));
  const [error, setError] = useState('');
  useEffect(() => {
    if (loadedTabs.has(tab)) {
      setComponent(() => loadedTabs.get(tab));
      return;
    }
    let current = true;
    TAB_MODULES[tab]()
      .then((loaded) => {
        loadedTabs.set(tab, loaded);
        if (current) {
          setComponent(() => loaded);
        }
      })
      .catch((err: unknown) => current && setError(`Could not load this tab: ${describeError(err)}`));
    return () => {
      current = false;
    };
  }, [tab]);
  if (error) {
    return (
      <p class="form-error" role="alert">
        {error}
      </p>
    );
  }
  return Component ? <Component vm={vm} /> : <p class="muted">Loading…</p>;
}

/** A VM's page: its overview or one of the Terminal, Screen and Ports tabs, kept live by the single-VM watch. */
export function VmPage({ name, tab }: { name: string; tab: VmTab }) {
  const vm = useSignal<Vm | undefined>(undefined);
  const gone = useSignal(false);
  const loading = useSignal(true);
  const creds = credentials.value;

  useEffect(() => {
    if (!creds) {
      return;
    }
    const key = `vm:${name}`;
    const stop = watchNdjson<WatchMessage<Vm>>(creds, `/v1/vms/${seg(name)}?watch=true`, {
      onOpen: () => clearProblem(key),
      onMessage: (m) => {
        loading.value = false;
        if (m.type === 'DELETED') {
          gone.value = true;
          return;
        }
        gone.value = false;
        vm.value = m.object;
      },
      onInterrupted: (err) => {
        reportProblem(key, err, true, `Live updates of VM ${name} stopped`);
      },
    });
    // A watch of a VM that does not exist sends nothing until it is created.
    const timer = setTimeout(() => (loading.value = false), 3000);
    return () => {
      stop();
      clearTimeout(timer);
      clearProblem(key);
    };
  }, [creds, name]);

  const current = vm.value;
  return (
    <section aria-labelledby="vm-title">
      <p class="crumbs">
        <a href="#/vms">VMs</a> / <span>{name}</span>
      </p>
      <h1 id="vm-title">
        {name} {current && <StatusBadge status={current.status} />}
        {current && current.powerState !== 'running' && <span class="badge">{current.powerState}</span>}
      </h1>
      {gone.value && <p class="banner banner-warn">This VM was deleted.</p>}
      <nav class="tabs" aria-label="VM views">
        {(Object.keys(TAB_LABELS) as VmTab[]).map((t) => (
          <a key={t} href={vmHref(name, t)} aria-current={t === tab ? 'page' : undefined}>
            {TAB_LABELS[t]}
          </a>
        ))}
      </nav>
      {!current ? (
        <p class="muted">{loading.value ? 'Loading…' : `No VM named ${name}.`}</p>
      ) : (
        <div class="tab-body">
          {tab === 'overview' ? <VmOverview vm={current} /> : <LazyTab key={tab} tab={tab} vm={current} />}
        </div>
      )}
    </section>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}
