/** A VM's overview tab: its status and spec, conditions, actions, startup-script logs and events. */
import type { ComponentChildren } from 'preact';
import { ago } from './clock';
import { labelPairs } from './format';
import type { Vm } from './types';
import { VmActions } from './vm-actions';
import { VmEvents, VmLogs } from './vm-events';
import { WorkerHealth } from './worker-health';

const NEVER = '0001-01-01T00:00:00Z';

function when(time: string | undefined): string {
  return !time || time === NEVER ? '-' : `${new Date(time).toLocaleString()} (${ago(time)} ago)`;
}

function Row({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

function network(vm: Vm): string {
  if (vm['net-bridged']) {
    return `bridged to ${vm['net-bridged']}`;
  }
  if (vm['net-softnet'] || vm.netSoftnet) {
    const rules = [
      ...vm.netSoftnetAllow.map((r) => `allow ${r}`),
      ...vm.netSoftnetBlock.map((r) => `block ${r}`),
      ...vm.netSoftnetExpose.map((r) => `expose ${r}`),
    ];
    return rules.length > 0 ? `softnet (${rules.join(', ')})` : 'softnet';
  }
  return 'shared (NAT)';
}

function Pairs({ map }: { map: Record<string, string | number> | undefined }) {
  const pairs = labelPairs(Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, String(v)])));
  if (pairs.length === 0) {
    return <span class="muted">none</span>;
  }
  return (
    <span class="labels">
      {pairs.map((p) => (
        <span class="label" key={p}>
          {p}
        </span>
      ))}
    </span>
  );
}

export function VmOverview({ vm }: { vm: Vm }) {
  const options = [vm.headless && 'headless', vm.nested && 'nested', vm.suspendable && 'suspendable']
    .filter(Boolean)
    .join(', ');
  return (
    <>
      {(vm.status !== 'running' || vm.powerState !== 'running') && vm.status_message && (
        <p class={`banner ${vm.status === 'failed' ? 'banner-error' : 'banner-warn'}`} role="status">
          <span>
            <strong>{vm.status}:</strong> {vm.status_message}
          </span>
        </p>
      )}
      {vm.worker && <WorkerHealth name={vm.worker} />}
      <div class="overview-actions">
        <VmActions vm={vm} afterDelete="#/vms" />
      </div>
      <div class="grid-2">
        <section class="card" aria-labelledby="spec-title">
          <h2 id="spec-title">Spec</h2>
          <dl class="spec">
            <Row label="Image">
              {vm.image}
              {vm.image_fqn && vm.image_fqn !== vm.image && <div class="muted">{vm.image_fqn}</div>}
            </Row>
            <Row label="Worker">{vm.worker || <span class="muted">not scheduled</span>}</Row>
            <Row label="CPU">{vm.assignedCPU || vm.cpu || 'worker default'}</Row>
            <Row label="Memory">{`${vm.assignedMemory || vm.memory || 'worker default'}${vm.assignedMemory || vm.memory ? ' MB' : ''}`}</Row>
            <Row label="Disk">{vm.diskSize ? `${vm.diskSize} GB` : "image's size"}</Row>
            <Row label="Platform">{`${vm.os} / ${vm.arch} / ${vm.runtime}`}</Row>
            <Row label="Network">{network(vm)}</Row>
            <Row label="Options">{options || <span class="muted">none</span>}</Row>
            <Row label="Power state">{vm.powerState}</Row>
            <Row label="Restart policy">{`${vm.restart_policy} (${vm.restart_count} restart${vm.restart_count === 1 ? '' : 's'})`}</Row>
            <Row label="Labels">
              <Pairs map={vm.labels} />
            </Row>
            <Row label="Resources">
              <Pairs map={vm.resources} />
            </Row>
            {vm.hostDirs.length > 0 && (
              <Row label="Host dirs">
                {vm.hostDirs.map((d) => `${d.name}:${d.path}${d.ro ? ':ro' : ''}`).join(', ')}
              </Row>
            )}
            {vm.endpoints && vm.endpoints.length > 0 && (
              <Row label="Endpoints">
                {vm.endpoints.map((e) => {
                  const seen = vm.observedEndpoints?.find((o) => o.name === e.name);
                  return (
                    <div key={e.name}>
                      {e.name}: {e.protocol}/{e.target.vm.port}
                      {seen
                        ? ` → worker port ${seen.workerPort ?? '-'} (${seen.state}${seen.message ? `: ${seen.message}` : ''})`
                        : ''}
                    </div>
                  );
                })}
              </Row>
            )}
            <Row label="SSH user">{vm.username || 'admin'}</Row>
            <Row label="Created">{when(vm.createdAt)}</Row>
            <Row label="Scheduled">{when(vm.scheduled_at)}</Row>
            <Row label="Started">{when(vm.started_at)}</Row>
            <Row label="UID">
              <code>{vm.uid}</code>
            </Row>
            <Row label="Generation">{`${vm.generation} (observed ${vm.observedGeneration})`}</Row>
          </dl>
        </section>
        <section class="card" aria-labelledby="conditions-title">
          <h2 id="conditions-title">Conditions</h2>
          {vm.conditions.length === 0 ? (
            <p class="muted">None yet.</p>
          ) : (
            <ul class="conditions">
              {vm.conditions.map((c) => (
                <li key={c.type}>
                  <span class={`badge ${c.state === 'true' ? 'badge-running' : ''}`}>{c.state}</span> {c.type}
                </li>
              ))}
            </ul>
          )}
          {vm.startup_script && (
            <>
              <h2>Startup script</h2>
              <pre class="code">{vm.startup_script.script_content}</pre>
            </>
          )}
        </section>
      </div>
      <VmLogs vm={vm} />
      <VmEvents vm={vm} />
    </>
  );
}
