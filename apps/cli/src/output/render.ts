import type {
  ClusterSettings,
  HostDir,
  HostProcess,
  ServiceAccount,
  Vm,
  VmEndpoint,
  VmObservedEndpoint,
  Worker,
} from '@grove/resources';
import { formatHostDir } from '@grove/resources';
import { quoteShellWord } from '../shell-words';
import { stringifyYaml } from '../yaml';
import { formatAge, formatKeyValues, formatTable } from './table';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Machine output: pretty-printed JSON or YAML, ending with a newline. */
export function renderMachine(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringifyYaml(value);
}

function restartPolicy(vm: Pick<Vm, 'restart_policy' | 'restart_count'>): string {
  const count = vm.restart_count ?? 0;
  return `${vm.restart_policy} (${count} restart${count === 1 ? '' : 's'})`;
}

function mapText(map: Record<string, string | number> | undefined): string {
  const entries = Object.entries(map ?? {});
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

function listText(items: readonly string[] | undefined): string {
  return items && items.length > 0 ? items.join(', ') : '-';
}

/** `ssh tcp 22 ← worker port 2222` (or `2000-2099`, or `any` when the OS picks). */
function endpointText(endpoint: VmEndpoint): string {
  const range = endpoint.workerPortRange;
  const worker = !range ? 'any' : range.min === range.max ? String(range.min) : `${range.min}-${range.max}`;
  return `${endpoint.name} ${endpoint.protocol} ${endpoint.target.vm.port} ← worker port ${worker}`;
}

/** `ssh listening on worker port 2222`, or `dns error: <message>`. */
function observedEndpointText(observed: VmObservedEndpoint): string {
  return observed.state === 'listening'
    ? `${observed.name} listening on worker port ${observed.workerPort ?? '?'}`
    : `${observed.name} ${observed.state}${observed.message ? `: ${observed.message}` : ''}`;
}

/**
 * `proxy: /usr/bin/socat 'two words' (env LOG_LEVEL, TOKEN)`: the command as `--host-process` takes it, and only the
 * names of the env variables, since their values may be secrets.
 */
function hostProcessText(process: HostProcess): string {
  const command = [process.program, ...(process.args ?? [])].map(quoteShellWord).join(' ');
  const env = Object.keys(process.env ?? {});
  return `${process.name}: ${command}${env.length > 0 ? ` (env ${env.join(', ')})` : ''}`;
}

/** The state of the `host-processes-ready` condition, `-` when the VM has no host processes or no report yet. */
function hostProcessesReady(vm: Vm): string {
  const condition = (vm.conditions ?? []).find((c) => c.type === 'host-processes-ready');
  return vm.hostProcesses?.length && condition ? condition.state : '-';
}

function orDash(text: string | undefined): string {
  return text ? text : '-';
}

export function renderVmTable(vms: readonly Vm[], now: Date): string {
  return formatTable(
    ['NAME', 'CREATED', 'IMAGE', 'STATUS', 'RESTART-POLICY', 'WORKER'],
    vms.map((vm) => [vm.name, formatAge(vm.createdAt, now), vm.image, vm.status, restartPolicy(vm), orDash(vm.worker)]),
  );
}

export function renderVm(vm: Vm, now: Date): string {
  const hostDirs = (vm.hostDirs ?? []).map((d: HostDir) => formatHostDir(d));
  const cpu = vm.cpu ? String(vm.cpu) : `implicit${vm.assignedCPU ? ` (assigned ${vm.assignedCPU})` : ''}`;
  const memory = vm.memory
    ? `${vm.memory} MiB`
    : `implicit${vm.assignedMemory ? ` (assigned ${vm.assignedMemory} MiB)` : ''}`;
  const softnet = vm.netSoftnet
    ? `on${vm.netSoftnetAllow?.length ? `, allow ${vm.netSoftnetAllow.join(', ')}` : ''}${
        vm.netSoftnetBlock?.length ? `, block ${vm.netSoftnetBlock.join(', ')}` : ''
      }`
    : 'off';
  return formatKeyValues([
    ['Name', vm.name],
    ['Image', vm.image],
    ['Image pull policy', vm.imagePullPolicy],
    ['Status', vm.status],
    ['Status message', orDash(vm.status_message)],
    ['Power state', vm.powerState],
    ['Worker', orDash(vm.worker)],
    ['Created', formatAge(vm.createdAt, now)],
    ['OS / arch / runtime', `${vm.os} / ${vm.arch} / ${vm.runtime}`],
    ['CPU', cpu],
    ['Memory', memory],
    ['Disk size', vm.diskSize ? `${vm.diskSize} GB` : 'image default'],
    ['Headless', String(vm.headless)],
    ['Nested virtualization', String(vm.nested)],
    ['Suspendable', String(vm.suspendable)],
    // Controllers that predate issue 12 do not send these; Orchard's defaults apply then.
    ['Audio', String(vm.audio ?? false)],
    ['Clipboard', String(vm.clipboard ?? false)],
    ['USB accessories', vm.usbAccessories === undefined ? "Tart's default" : String(vm.usbAccessories)],
    ['Softnet', softnet],
    ['Exposed ports', listText(vm.netSoftnetExpose)],
    ['Endpoints', listText((vm.endpoints ?? []).map(endpointText))],
    ['Observed endpoints', listText((vm.observedEndpoints ?? []).map(observedEndpointText))],
    // Arguments may hold commas: one process per "; ".
    ['Host processes', (vm.hostProcesses ?? []).map(hostProcessText).join('; ') || '-'],
    ['Host processes ready', hostProcessesReady(vm)],
    ['Bridged interface', orDash(vm['net-bridged'])],
    ['Random serial', String(vm.randomSerial)],
    ['Restart policy', restartPolicy(vm)],
    ['Resources', mapText(vm.resources)],
    ['Labels', mapText(vm.labels)],
    ['Host directories', listText(hostDirs)],
    ['Startup script', vm.startup_script?.script_content ? 'yes' : '-'],
    ['Local name', orDash(vm.localName)],
    ['UID', orDash(vm.uid)],
  ]);
}

export function renderWorkerTable(workers: readonly Worker[], now: Date): string {
  return formatTable(
    ['NAME', 'LAST-SEEN', 'SCHEDULING-PAUSED', 'SESSION'],
    workers.map((w) => [w.name, formatAge(w.last_seen, now), String(Boolean(w.scheduling_paused)), sessionText(w)]),
  );
}

/** Where the worker's session is: `up on REPLICA`, `lost (REPLICA)` when that replica is gone, `-` when none. */
function sessionText(worker: Worker): string {
  if (!worker.session) {
    return '-';
  }
  return worker.session.up ? `up on ${worker.session.replica}` : `lost (${worker.session.replica})`;
}

export function renderWorker(worker: Worker, now: Date): string {
  return formatKeyValues([
    ['Name', worker.name],
    ['Last seen', formatAge(worker.last_seen, now)],
    ['Scheduling paused', String(Boolean(worker.scheduling_paused))],
    ['Session', sessionText(worker)],
    ['Arch / runtime', `${worker.arch} / ${worker.runtime}`],
    ['Default CPU', String(worker.defaultCPU ?? 0)],
    ['Default memory', `${worker.defaultMemory ?? 0} MiB`],
    ['Resources', mapText(worker.resources)],
    ['Labels', mapText(worker.labels)],
    ['Capabilities', listText(worker.capabilities)],
    ['Machine ID', orDash(worker.machine_id)],
    ['Created', formatAge(worker.createdAt, now)],
  ]);
}

export function renderServiceAccountTable(accounts: readonly ServiceAccount[], now: Date): string {
  return formatTable(
    ['NAME', 'ROLES', 'CREATED'],
    accounts.map((sa) => [sa.name, listText(sa.roles), formatAge(sa.createdAt, now)]),
  );
}

export function renderServiceAccount(account: ServiceAccount, now: Date): string {
  return formatKeyValues([
    ['Name', account.name],
    ['Roles', listText(account.roles)],
    ['Created', formatAge(account.createdAt, now)],
  ]);
}

export function renderClusterSettings(settings: ClusterSettings): string {
  const policies = settings.hostDirPolicies ?? [];
  const head = formatKeyValues([['Scheduler profile', settings.schedulerProfile || 'optimize-utilization']]);
  if (policies.length === 0) {
    return `${head}Host directory policies: none (VMs cannot mount host directories)\n`;
  }
  const table = formatTable(
    ['PATH-PREFIX', 'READ-ONLY'],
    policies.map((p) => [p.pathPrefix, String(Boolean(p.ro))]),
  );
  const indented = table
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => `  ${line}\n`)
    .join('');
  return `${head}Host directory policies:\n${indented}`;
}
