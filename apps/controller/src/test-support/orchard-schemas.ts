import type { JsonSchema } from './json-schema';

/**
 * JSON schemas of Orchard's REST resources as Orchard serialises them (issue 12, contract test), written from
 * shared/reference/orchard.md §1.3, §1.7, §2 (Orchard b30bb5b) and orchard-2026.md §1.2 (fields added since, with
 * their wire names). Nullability: Orchard is Go with `omitempty` on every optional field, so a field is either
 * absent or of its type, never null; `generation`, `observedGeneration` and every time field are always present
 * (time.Time is never omitted, its zero value is `0001-01-01T00:00:00Z`); lists are `[]` when empty.
 * Grove's additions are not in these schemas: the contract test adds them from its one list of deviations.
 */

const string: JsonSchema = { type: 'string' };
const integer: JsonSchema = { type: 'integer', minimum: 0 };
const boolean: JsonSchema = { type: 'boolean' };
const time: JsonSchema = { type: 'string', format: 'date-time' };
const strings: JsonSchema = { type: 'array', items: string };
const stringMap: JsonSchema = { type: 'object', additionalProperties: string };
const integerMap: JsonSchema = { type: 'object', additionalProperties: integer };

function object(properties: Record<string, JsonSchema>, required: readonly string[] = []): JsonSchema {
  return { type: 'object', properties, required, additionalProperties: false };
}

export const ROLES = [
  'compute:read',
  'compute:write',
  'compute:connect',
  'admin:read',
  'admin:write',
  // orchard-2026.md §1.2.3, §1.2.4
  'host-process:write',
  'host-process:connect',
  'compute:connect:tart-guest-agent',
] as const;

/** §2.1 VM (VMSpec, VMSpecReadOnly, VMState and Meta flattened), plus orchard-2026.md §1.2.2–1.2.9. */
export const VM_PROPERTIES: Record<string, JsonSchema> = {
  name: string,
  createdAt: time,
  version: integer,
  uid: { type: 'string', format: 'uuid' },
  image: string,
  imagePullPolicy: { type: 'string', enum: ['IfNotPresent', 'Always'] },
  cpu: integer,
  memory: integer,
  diskSize: integer,
  'net-bridged': string,
  headless: boolean,
  nested: boolean,
  os: { type: 'string', enum: ['darwin', 'linux'] },
  arch: { type: 'string', enum: ['arm64', 'amd64'] },
  runtime: { type: 'string', enum: ['tart', 'vetu'] },
  'net-softnet': boolean,
  netSoftnet: boolean,
  netSoftnetAllow: strings,
  netSoftnetBlock: strings,
  suspendable: boolean,
  powerState: { type: 'string', enum: ['running', 'stopped', 'suspended'] },
  localName: string,
  tartName: string,
  observedGeneration: integer,
  conditions: {
    type: 'array',
    items: object({ type: string, state: { type: 'string', enum: ['true', 'false'] } }, ['type', 'state']),
  },
  status: { type: 'string', enum: ['pending', 'running', 'failed'] },
  status_message: string,
  worker: string,
  assignedCPU: integer,
  assignedMemory: integer,
  username: string,
  password: string,
  startup_script: object({ script_content: string, env: stringMap }),
  restart_policy: { type: 'string', enum: ['Never', 'OnFailure'] },
  restarted_at: time,
  restart_count: integer,
  randomSerial: boolean,
  resources: integerMap,
  labels: stringMap,
  hostDirs: { type: 'array', items: object({ name: string, path: string, ro: boolean }, ['name', 'path']) },
  image_fqn: string,
  scheduled_at: time,
  started_at: time,
  generation: integer,
  // orchard-2026.md §1.2.7–1.2.9
  audio: boolean,
  clipboard: boolean,
  usbAccessories: boolean,
  netSoftnetExpose: strings,
  // orchard-2026.md §1.2.2
  endpoints: {
    type: 'array',
    items: object(
      {
        name: string,
        protocol: { type: 'string', enum: ['tcp', 'udp'] },
        target: object({ vm: object({ port: integer }, ['port']) }, ['vm']),
        workerPortRange: object({ min: integer, max: integer }, ['min', 'max']),
      },
      ['name', 'protocol', 'target'],
    ),
  },
  observedEndpoints: {
    type: 'array',
    items: object(
      {
        name: string,
        protocol: { type: 'string', enum: ['tcp', 'udp'] },
        workerPort: integer,
        state: { type: 'string', enum: ['listening', 'error'] },
        message: string,
      },
      ['name', 'protocol', 'state'],
    ),
  },
  // orchard-2026.md §1.2.3
  hostProcesses: {
    type: 'array',
    items: object({ name: string, program: string, args: strings, env: stringMap }, ['name', 'program']),
  },
};

/** Fields every stored VM has: never omitted by Go, or never empty once the controller created the VM. */
export const VM_REQUIRED = [
  'name',
  'createdAt',
  'uid',
  'image',
  'imagePullPolicy',
  'os',
  'arch',
  'runtime',
  'powerState',
  'localName',
  'tartName',
  'observedGeneration',
  'conditions',
  'status',
  'restart_policy',
  'restarted_at',
  'scheduled_at',
  'started_at',
  'generation',
] as const;

/** §2.4 Worker, plus `capabilities` (orchard-2026.md §1.2.12). */
export const WORKER_PROPERTIES: Record<string, JsonSchema> = {
  name: string,
  createdAt: time,
  version: integer,
  last_seen: time,
  machine_id: string,
  scheduling_paused: boolean,
  resources: integerMap,
  labels: stringMap,
  defaultCPU: integer,
  defaultMemory: integer,
  arch: { type: 'string', enum: ['arm64', 'amd64'] },
  runtime: { type: 'string', enum: ['tart', 'vetu'] },
  capabilities: strings,
};
export const WORKER_REQUIRED = ['name', 'createdAt', 'last_seen', 'arch', 'runtime'] as const;

/** §2.5 ServiceAccount. */
export const SERVICE_ACCOUNT_PROPERTIES: Record<string, JsonSchema> = {
  name: string,
  createdAt: time,
  token: string,
  roles: { type: 'array', items: { type: 'string', enum: ROLES } },
};
export const SERVICE_ACCOUNT_REQUIRED = ['name', 'createdAt', 'token', 'roles'] as const;

/** §2.6 ClusterSettings (`schedulerProfile` is stored as optimize-utilization when empty). */
export const CLUSTER_SETTINGS_PROPERTIES: Record<string, JsonSchema> = {
  hostDirPolicies: { type: 'array', items: object({ pathPrefix: string, ro: boolean }, ['pathPrefix']) },
  schedulerProfile: { type: 'string', enum: ['optimize-utilization', 'distribute-load'] },
};

/** §1.7 Event. */
export const EVENT_PROPERTIES: Record<string, JsonSchema> = {
  kind: { type: 'string', enum: ['log_line'] },
  timestamp: integer,
  payload: string,
};
export const EVENT_REQUIRED = ['kind', 'timestamp', 'payload'] as const;

/** §1.3 `GET /v1/controller/info`. */
export const CONTROLLER_INFO_PROPERTIES: Record<string, JsonSchema> = {
  version: string,
  commit: string,
  capabilities: strings,
};

/** §1.3 `GET /v1/vms/{name}/ip`. */
export const IP_PROPERTIES: Record<string, JsonSchema> = { ip: string };

/** §1.1 the error body everywhere. */
export const ERROR_PROPERTIES: Record<string, JsonSchema> = { message: string };

/** §1.6 one NDJSON line of a VM watch. */
export const WATCH_TYPES = ['ADDED', 'MODIFIED', 'DELETED'] as const;
