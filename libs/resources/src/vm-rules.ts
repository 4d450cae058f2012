import { hostDirAllowed, type ClusterSettings } from './cluster-settings';
import { RESOURCE_TART_VMS, ZERO_TIME } from './enums';
import { ResourceValidationError, type FieldError } from './errors';
import { validateName } from './names';
import { copyHostProcesses, sameHostProcesses, validateHostProcesses } from './vm-host-processes';
import { copyEndpoints, endpointsField, sameEndpoints, validateEndpoints, validateSoftnetExpose } from './vm-ports';
import { formatHostDir, isVmScheduled, VM_SPEC_FIELDS, vmLocalName, type Vm, type VmSpec } from './vm';

/** What a client may send to create a VM: the user-settable fields. Everything else is set by Grove. */
export type VmCreateInput = Partial<
  Pick<
    Vm,
    | 'image'
    | 'imagePullPolicy'
    | 'cpu'
    | 'memory'
    | 'diskSize'
    | 'net-bridged'
    | 'headless'
    | 'nested'
    | 'os'
    | 'arch'
    | 'runtime'
    | 'net-softnet'
    | 'netSoftnet'
    | 'netSoftnetAllow'
    | 'netSoftnetBlock'
    | 'suspendable'
    | 'audio'
    | 'clipboard'
    | 'usbAccessories'
    | 'netSoftnetExpose'
    | 'endpoints'
    | 'hostProcesses'
    | 'username'
    | 'password'
    | 'startup_script'
    | 'restart_policy'
    | 'randomSerial'
    | 'resources'
    | 'labels'
    | 'hostDirs'
  >
> & { name: string };

/**
 * Fields the `vetu` runtime cannot honour (orchard.md §1.3 step 5; the Tart-only fields Orchard added later,
 * orchard-2026.md §1.2.7–1.2.9).
 */
const VETU_UNSUPPORTED = [
  'net-softnet',
  'netSoftnet',
  'netSoftnetAllow',
  'netSoftnetBlock',
  'netSoftnetExpose',
  'hostDirs',
  'suspendable',
  'audio',
  'clipboard',
  'usbAccessories',
] as const;

function isSpecField(field: string): field is keyof VmSpec {
  return (VM_SPEC_FIELDS as readonly string[]).includes(field);
}

function hasValue(value: unknown): boolean {
  if (Array.isArray(value)) {
    return value.length > 0;
  }
  return value !== undefined && value !== null && value !== false && value !== '';
}

/** Rules that need more than one field or the cluster settings; the transport validates types and enums. */
export function validateVmCreate(input: VmCreateInput, settings: ClusterSettings): FieldError[] {
  const errors: FieldError[] = [];
  const nameError = validateName('name', input.name);
  if (nameError) {
    errors.push(nameError);
  }
  if (!input.image) {
    errors.push({ field: 'image', message: 'must not be empty' });
  }
  if (input.runtime === 'vetu') {
    for (const field of VETU_UNSUPPORTED) {
      if (hasValue(input[field])) {
        errors.push({ field, message: 'runtime "vetu" does not support this field' });
      }
    }
  }
  errors.push(...validateSoftnetExpose(input.netSoftnetExpose ?? []));
  errors.push(...validateEndpoints(input.endpoints ?? [], input.netSoftnetExpose ?? []));
  errors.push(...validateHostProcesses(input.hostProcesses ?? []));
  (input.hostDirs ?? []).forEach((dir, i) => {
    const before = errors.length;
    if (!dir.name) {
      errors.push({ field: `hostDirs[${i}].name`, message: 'must not be empty' });
    }
    if (!dir.path) {
      errors.push({ field: `hostDirs[${i}].path`, message: 'must not be empty' });
    } else if (dir.path.includes('..')) {
      errors.push({ field: `hostDirs[${i}].path`, message: 'must not contain ".."' });
    }
    if (errors.length === before && !hostDirAllowed(settings.hostDirPolicies, dir)) {
      errors.push({
        field: `hostDirs[${i}]`,
        message: `host directory "${formatHostDir(dir)}" is disallowed by policy, check your cluster settings`,
      });
    }
  });
  if (input.startup_script && input.startup_script.env) {
    for (const key of Object.keys(input.startup_script.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        errors.push({ field: `startup_script.env.${key}`, message: 'is not a valid environment variable name' });
      }
    }
  }
  return errors;
}

/**
 * Softnet flags imply each other: any of them set turns both booleans on (orchard.md §1.3 step 6). Exposed ports
 * imply Softnet too, as `--net-softnet-expose` does in Tart (tart.md §2, `run`).
 */
function normaliseSoftnet<T extends Partial<VmSpec>>(spec: T): T {
  const softnet =
    Boolean(spec['net-softnet']) ||
    Boolean(spec.netSoftnet) ||
    (spec.netSoftnetAllow?.length ?? 0) > 0 ||
    (spec.netSoftnetBlock?.length ?? 0) > 0 ||
    (spec.netSoftnetExpose?.length ?? 0) > 0;
  return { ...spec, 'net-softnet': softnet, netSoftnet: softnet };
}

/**
 * Builds the stored VM from validated input, with every default Orchard applies (orchard.md §1.3 step 4–8).
 * Throws ResourceValidationError listing every problem.
 */
export function newVm(input: VmCreateInput, settings: ClusterSettings, uid: string, now: Date): Vm {
  const errors = validateVmCreate(input, settings);
  if (errors.length > 0) {
    throw new ResourceValidationError(errors);
  }
  const os = input.os ?? 'darwin';
  const runtime = input.runtime ?? 'tart';
  const resources = { ...(input.resources ?? {}) };
  if (os === 'darwin' && runtime === 'tart' && resources[RESOURCE_TART_VMS] === undefined) {
    // Apple's licence allows two macOS guests per host; each macOS VM takes one slot unless it says otherwise.
    resources[RESOURCE_TART_VMS] = 1;
  }
  const localName = vmLocalName(input.name, uid, 0);
  const spec = normaliseSoftnet({
    os,
    arch: input.arch ?? 'arm64',
    runtime,
    'net-softnet': input['net-softnet'] ?? false,
    netSoftnet: input.netSoftnet ?? false,
    netSoftnetAllow: [...(input.netSoftnetAllow ?? [])],
    netSoftnetBlock: [...(input.netSoftnetBlock ?? [])],
    suspendable: input.suspendable ?? false,
    usbAccessories: input.usbAccessories,
    netSoftnetExpose: [...(input.netSoftnetExpose ?? [])],
    // Omitted when empty, as Orchard does (orchard-2026.md §1.2.2).
    ...((input.endpoints ?? []).length > 0 ? { endpoints: copyEndpoints(input.endpoints ?? []) } : {}),
    ...((input.hostProcesses ?? []).length > 0 ? { hostProcesses: copyHostProcesses(input.hostProcesses ?? []) } : {}),
    powerState: 'running' as const,
  });
  return {
    name: input.name,
    createdAt: now.toISOString(),
    version: 0,
    uid,
    image: input.image ?? '',
    imagePullPolicy: input.imagePullPolicy ?? 'IfNotPresent',
    cpu: input.cpu ?? 0,
    memory: input.memory ?? 0,
    diskSize: input.diskSize ?? 0,
    'net-bridged': input['net-bridged'] ?? '',
    headless: input.headless ?? false,
    nested: input.nested ?? false,
    ...spec,
    audio: input.audio ?? false,
    clipboard: input.clipboard ?? false,
    localName,
    tartName: localName,
    observedGeneration: 0,
    conditions: [{ type: 'scheduled', state: 'false' }],
    status: 'pending',
    status_message: '',
    worker: '',
    assignedCPU: 0,
    assignedMemory: 0,
    username: input.username ?? '',
    password: input.password ?? '',
    ...(input.startup_script
      ? {
          startup_script: {
            script_content: input.startup_script.script_content,
            ...(input.startup_script.env ? { env: { ...input.startup_script.env } } : {}),
          },
        }
      : {}),
    restart_policy: input.restart_policy ?? 'Never',
    restarted_at: ZERO_TIME,
    restart_count: 0,
    randomSerial: input.randomSerial ?? false,
    resources,
    labels: { ...(input.labels ?? {}) },
    hostDirs: (input.hostDirs ?? []).map((d) => ({ name: d.name, path: d.path, ro: d.ro ?? false })),
    image_fqn: '',
    scheduled_at: ZERO_TIME,
    started_at: ZERO_TIME,
    generation: 0,
  };
}

/** Why a spec update was refused: bad input (400) or a VM whose state forbids it (409). */
export class VmSpecConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VmSpecConflictError';
  }
}

/** `hostProcesses` of an updated spec, undefined when there are none (see {@link endpointsField}). */
function hostProcessesField(processes: VmSpec['hostProcesses']): Pick<VmSpec, 'hostProcesses'> {
  return { hostProcesses: processes && processes.length > 0 ? copyHostProcesses(processes) : undefined };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function sameSpec(a: VmSpec, b: VmSpec): boolean {
  return (
    a.os === b.os &&
    a.arch === b.arch &&
    a.runtime === b.runtime &&
    a['net-softnet'] === b['net-softnet'] &&
    a.netSoftnet === b.netSoftnet &&
    a.suspendable === b.suspendable &&
    a.usbAccessories === b.usbAccessories &&
    a.powerState === b.powerState &&
    sameList(a.netSoftnetAllow, b.netSoftnetAllow) &&
    sameList(a.netSoftnetBlock, b.netSoftnetBlock) &&
    sameList(a.netSoftnetExpose, b.netSoftnetExpose) &&
    sameEndpoints(a.endpoints, b.endpoints) &&
    sameHostProcesses(a.hostProcesses, b.hostProcesses)
  );
}

/**
 * Applies a spec update (`PUT /v1/vms/{name}`) with Orchard's rules (orchard.md §1.3). Returns the new spec, or
 * undefined when nothing changed. Throws ResourceValidationError for bad input and VmSpecConflictError when the
 * VM's state forbids the change.
 */
export function applyVmSpecUpdate(current: Vm, requested: Partial<VmSpec>): VmSpec | undefined {
  if (current.status === 'failed') {
    throw new VmSpecConflictError('cannot update VM in a terminal state');
  }
  // Stopped and suspended are one-way: every update is refused, whatever it asks for, even an unchanged body
  // (orchard.md §1.3 and §12: Orchard checks this before its "nothing changed" short-circuit).
  if (current.powerState !== 'running') {
    throw new VmSpecConflictError(`cannot transition from a terminal power state "${current.powerState}"`);
  }
  const errors: FieldError[] = [];
  const next = normaliseSoftnet({
    os: requested.os ?? current.os,
    arch: requested.arch ?? current.arch,
    runtime: requested.runtime ?? current.runtime,
    'net-softnet': requested['net-softnet'] ?? false,
    netSoftnet: requested.netSoftnet ?? false,
    netSoftnetAllow: requested.netSoftnetAllow ?? [],
    netSoftnetBlock: requested.netSoftnetBlock ?? [],
    suspendable: requested.suspendable ?? false,
    // The fields Orchard added later keep their value when a body leaves them out, so that a client that predates
    // them (or Grove's own older CLI) does not reset them with every update (orchard-2026.md §1.2.8–1.2.9).
    usbAccessories: requested.usbAccessories ?? current.usbAccessories,
    netSoftnetExpose: requested.netSoftnetExpose ?? current.netSoftnetExpose,
    // Endpoints may change at any time (orchard-2026.md §1.2.2); a body without them keeps them, like the fields above.
    ...endpointsField(requested.endpoints ?? current.endpoints),
    // Host processes too; changing them restarts only the processes, never the VM (orchard-2026.md §1.2.3).
    ...hostProcessesField(requested.hostProcesses ?? current.hostProcesses),
    powerState: requested.powerState ?? current.powerState,
  });
  for (const field of ['os', 'arch', 'runtime'] as const) {
    if (next[field] !== current[field]) {
      errors.push({ field, message: 'cannot be modified' });
    }
  }
  if (next.runtime === 'vetu') {
    // Name the fields the body set, as create does, rather than the booleans normalisation derived from them.
    for (const field of VETU_UNSUPPORTED) {
      if (isSpecField(field) && hasValue(requested[field])) {
        errors.push({ field, message: 'runtime "vetu" does not support this field' });
      }
    }
  }
  if (current.suspendable && !next.suspendable) {
    errors.push({ field: 'suspendable', message: 'cannot be turned off for a suspendable VM' });
  }
  if (current.suspendable && next.netSoftnet !== current.netSoftnet) {
    errors.push({ field: 'netSoftnet', message: 'cannot be changed for a suspendable VM' });
  }
  // A suspended VM resumes with the devices it was saved with (orchard-2026.md §1.2.8).
  if (current.suspendable && next.usbAccessories !== current.usbAccessories) {
    errors.push({ field: 'usbAccessories', message: 'cannot be toggled for a suspendable VM' });
  }
  errors.push(...validateSoftnetExpose(next.netSoftnetExpose));
  errors.push(...validateEndpoints(next.endpoints ?? [], next.netSoftnetExpose));
  errors.push(...validateHostProcesses(next.hostProcesses ?? []));
  // The worker was chosen for these ports (orchard-2026.md §1.2.9).
  if (isVmScheduled(current) && !sameList(next.netSoftnetExpose, current.netSoftnetExpose)) {
    errors.push({ field: 'netSoftnetExpose', message: 'cannot be changed once the VM is scheduled' });
  }
  // The VM's current process decides: one started without `--suspendable` cannot be suspended, even by a body that
  // turns `suspendable` on at the same time (Orchard checks the stored VM as well).
  if (next.powerState === 'suspended' && !current.suspendable) {
    errors.push({ field: 'powerState', message: 'only suspendable VMs can be suspended' });
  }
  if (errors.length > 0) {
    throw new ResourceValidationError(errors);
  }
  const currentSpec: VmSpec = {
    os: current.os,
    arch: current.arch,
    runtime: current.runtime,
    'net-softnet': current['net-softnet'],
    netSoftnet: current.netSoftnet,
    netSoftnetAllow: current.netSoftnetAllow,
    netSoftnetBlock: current.netSoftnetBlock,
    suspendable: current.suspendable,
    usbAccessories: current.usbAccessories,
    netSoftnetExpose: current.netSoftnetExpose,
    endpoints: current.endpoints,
    hostProcesses: current.hostProcesses,
    powerState: current.powerState,
  };
  return sameSpec(currentSpec, next) ? undefined : next;
}
