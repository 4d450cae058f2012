import type {
  Architecture,
  ConditionState,
  ConditionType,
  ImagePullPolicy,
  Os,
  PowerState,
  RestartPolicy,
  Runtime,
  VmStatus,
} from './enums';

/** A VM condition, e.g. `{type: "scheduled", state: "true"}`. */
export interface VmCondition {
  type: ConditionType;
  state: ConditionState;
}

/** A host directory shared into the VM (`tart run --dir=name:path[:ro]`). */
export interface HostDir {
  name: string;
  path: string;
  ro?: boolean;
}

/** Script run over SSH after the VM boots; its output lines become `log_line` events. */
export interface StartupScript {
  script_content: string;
  env?: Record<string, string>;
}

/** Transport protocols of VM endpoints (orchard-2026.md §1.2.2, TCP #478 and UDP #485). */
export const ENDPOINT_PROTOCOLS = ['tcp', 'udp'] as const;
export type EndpointProtocol = (typeof ENDPOINT_PROTOCOLS)[number];

/** States of an observed endpoint: its worker listener is up, or could not be set up (`message` says why). */
export const OBSERVED_ENDPOINT_STATES = ['listening', 'error'] as const;
export type ObservedEndpointState = (typeof OBSERVED_ENDPOINT_STATES)[number];

/**
 * A VM service exposed on a port of its worker (orchard-2026.md §1.2.2): the worker listens on a port from
 * `workerPortRange` (equal bounds pin one port; without it the OS picks one) and relays to `target.vm.port`.
 */
export interface VmEndpoint {
  name: string;
  protocol: EndpointProtocol;
  target: { vm: { port: number } };
  workerPortRange?: { min: number; max: number };
}

/** What the worker reports about one endpoint of the VM (read-only). */
export interface VmObservedEndpoint {
  name: string;
  protocol: EndpointProtocol;
  /** The worker port the listener took; absent when it has none. */
  workerPort?: number;
  state: ObservedEndpointState;
  message?: string;
}

/**
 * A process the worker runs beside the VM on its host (orchard-2026.md §1.2.3): `program` (a path, or a name looked up
 * in the worker's `PATH`) with `args` and `env`, in a directory of its own. It must listen on the Unix socket named by
 * `ORCHARD_PROCESS_SOCKET`; `GET /v1/vms/{name}/port-forward?hostProcess=NAME` connects there.
 */
export interface HostProcess {
  name: string;
  program: string;
  args?: string[];
  env?: Record<string, string>;
}

/** Map of resource name to amount. */
export type Resources = Record<string, number>;
/** Map of label name to value. */
export type Labels = Record<string, string>;

/**
 * The VM resource exactly as the REST API serialises it. Field names follow Orchard, including its mixed
 * spellings (`status_message`, `restart_policy`, `net-softnet`); see orchard.md §2.1.
 */
export interface Vm {
  name: string;
  createdAt: string;
  version: number;
  uid: string;

  image: string;
  imagePullPolicy: ImagePullPolicy;
  cpu: number;
  memory: number;
  diskSize: number;
  'net-bridged': string;
  headless: boolean;
  nested: boolean;
  os: Os;
  arch: Architecture;
  runtime: Runtime;
  'net-softnet': boolean;
  netSoftnet: boolean;
  netSoftnetAllow: string[];
  netSoftnetBlock: string[];
  suspendable: boolean;
  /** Audio pass-through to the host; opt-in, fixed at creation (`tart run --no-audio` unless true). */
  audio: boolean;
  /** Clipboard sharing with the host; opt-in, fixed at creation (`tart run --no-clipboard` unless true). */
  clipboard: boolean;
  /**
   * Tart's emulated USB keyboard and pointing devices: `false` runs the VM with `--no-usb-accessories`; absent or
   * `true` keeps Tart's default (attached). A spec field; a suspendable VM cannot toggle it.
   */
  usbAccessories?: boolean;
  /** Softnet port exposure, `EXTERNAL:INTERNAL` each (`tart run --net-softnet-expose`); fixed once scheduled. */
  netSoftnetExpose: string[];
  /** Services exposed on worker ports (orchard-2026.md §1.2.2); absent when there are none, as Orchard omits it. */
  endpoints?: VmEndpoint[];
  /** Processes the worker runs beside the VM (orchard-2026.md §1.2.3); absent when there are none, as Orchard omits it. */
  hostProcesses?: HostProcess[];
  powerState: PowerState;

  localName: string;
  tartName: string;
  observedGeneration: number;
  conditions: VmCondition[];
  status: VmStatus;
  status_message: string;
  worker: string;
  assignedCPU: number;
  assignedMemory: number;
  username: string;
  password: string;
  /** Absent when the VM has none: Orchard omits the field (`omitempty`), never sends null (issue 12, item 3). */
  startup_script?: StartupScript;
  restart_policy: RestartPolicy;
  restarted_at: string;
  restart_count: number;
  randomSerial: boolean;
  resources: Resources;
  labels: Labels;
  hostDirs: HostDir[];
  image_fqn: string;
  scheduled_at: string;
  started_at: string;
  generation: number;
  /**
   * Read-only: the worker's listeners for `endpoints`, as it last reported them; the scheduler clears them whenever
   * it changes the VM's state. Absent when there are none.
   */
  observedEndpoints?: VmObservedEndpoint[];
}

/** Every VM field, in the order the API writes them. */
export const VM_FIELDS = [
  'name',
  'createdAt',
  'version',
  'uid',
  'image',
  'imagePullPolicy',
  'cpu',
  'memory',
  'diskSize',
  'net-bridged',
  'headless',
  'nested',
  'os',
  'arch',
  'runtime',
  'net-softnet',
  'netSoftnet',
  'netSoftnetAllow',
  'netSoftnetBlock',
  'suspendable',
  'audio',
  'clipboard',
  'usbAccessories',
  'netSoftnetExpose',
  'endpoints',
  'hostProcesses',
  'powerState',
  'localName',
  'tartName',
  'observedGeneration',
  'conditions',
  'status',
  'status_message',
  'worker',
  'assignedCPU',
  'assignedMemory',
  'username',
  'password',
  'startup_script',
  'restart_policy',
  'restarted_at',
  'restart_count',
  'randomSerial',
  'resources',
  'labels',
  'hostDirs',
  'image_fqn',
  'scheduled_at',
  'started_at',
  'generation',
  'observedEndpoints',
] as const satisfies readonly (keyof Vm)[];

/** Fields of the VM that `PUT /v1/vms/{name}` may change (Orchard's `VMSpec`). */
export const VM_SPEC_FIELDS = [
  'os',
  'arch',
  'runtime',
  'net-softnet',
  'netSoftnet',
  'netSoftnetAllow',
  'netSoftnetBlock',
  'suspendable',
  'usbAccessories',
  'netSoftnetExpose',
  'endpoints',
  'hostProcesses',
  'powerState',
] as const satisfies readonly (keyof Vm)[];
export type VmSpec = Pick<Vm, (typeof VM_SPEC_FIELDS)[number]>;

/** The on-disk name of a VM incarnation: `grove-<name>-<uid>-<restartCount>`. */
export function vmLocalName(name: string, uid: string, restartCount: number): string {
  return `grove-${name}-${uid}-${restartCount}`;
}

/** A VM is scheduled when its `scheduled` condition is true (or, for legacy data without one, it has a worker). */
export function isVmScheduled(vm: Pick<Vm, 'conditions' | 'worker'>): boolean {
  const cond = vm.conditions.find((c) => c.type === 'scheduled');
  return cond ? cond.state === 'true' : vm.worker !== '';
}

export function isVmTerminal(vm: Pick<Vm, 'status'>): boolean {
  return vm.status === 'failed';
}

/**
 * Sets a condition, replacing any existing one of the same type in place (a new type is appended), so that
 * setting a condition to the state it already has yields an equal array. Returns a new array.
 */
export function setCondition(conditions: VmCondition[], type: ConditionType, state: boolean): VmCondition[] {
  const value: ConditionState = state ? 'true' : 'false';
  if (!conditions.some((c) => c.type === type)) {
    return [...conditions, { type, state: value }];
  }
  let seen = false;
  return conditions.flatMap((c) => {
    if (c.type !== type) {
      return [c];
    }
    // Legacy data may hold duplicates of a type; keep one, where the first one was.
    if (seen) {
      return [];
    }
    seen = true;
    return [{ type, state: value }];
  });
}

/**
 * Parses the CLI form `name:path[:ro]`, splitting on the first `:` so that `https://…` paths work. The `:ro` suffix
 * is taken off before splitting, as Orchard does, so that `cache:ro` is refused as a missing path instead of
 * becoming a read-write mount of a directory called `ro`.
 */
export function parseHostDir(text: string): HostDir {
  const ro = text.endsWith(':ro');
  const spec = ro ? text.slice(0, -3) : text;
  const idx = spec.indexOf(':');
  if (idx <= 0) {
    throw new Error(`invalid host directory "${text}": expected name:path[:ro]`);
  }
  const path = spec.slice(idx + 1);
  if (path === '') {
    throw new Error(`invalid host directory "${text}": the path is empty`);
  }
  return { name: spec.slice(0, idx), path, ro };
}

export function formatHostDir(dir: HostDir): string {
  return `${dir.name}:${dir.path}${dir.ro ? ':ro' : ''}`;
}
