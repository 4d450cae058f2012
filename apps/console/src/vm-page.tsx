import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { seg } from './api';
import { clearProblem, reportProblem } from './errors';
import { watchNdjson } from './ndjson';
import { vmHref, type VmTab } from './router';
import { credentials } from './session';
import type { Vm, WatchMessage } from './types';
import { VmOverview } from './vm-overview';
import { VmPorts } from './vm-ports';
import { VmScreen } from './vm-screen';
import { VmTerminal } from './vm-terminal';

const TAB_LABELS: Record<VmTab, string> = {
  overview: 'Overview',
  terminal: 'Terminal',
  screen: 'Screen',
  ports: 'Ports',
};

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
          {tab === 'overview' && <VmOverview vm={current} />}
          {tab === 'terminal' && <VmTerminal vm={current} />}
          {tab === 'screen' && <VmScreen vm={current} />}
          {tab === 'ports' && <VmPorts vm={current} />}
        </div>
      )}
    </section>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}
