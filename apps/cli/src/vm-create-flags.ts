import {
  parseHostDir,
  parseLabels,
  parseResources,
  validateEndpoints,
  validateSoftnetExpose,
  ENDPOINT_PROTOCOLS,
  type EndpointProtocol,
  type Architecture,
  type ImagePullPolicy,
  type Os,
  type RestartPolicy,
  type Runtime,
  type VmCreateInput,
  type VmEndpoint,
} from '@grove/resources';
import { CliError, UsageError } from './cli.errors';

/** Orchard's default image for `create vm` (orchard.md §7). */
export const DEFAULT_VM_IMAGE = 'ghcr.io/cirruslabs/macos-tahoe-base:latest';

/** The options of `grove create vm` as commander hands them over (enums already checked against their choices). */
export interface VmCreateFlags {
  image: string;
  os: Os;
  arch: Architecture;
  runtime: Runtime;
  cpu: number;
  memory: number;
  diskSize: number;
  netSoftnet?: boolean;
  netSoftnetAllow?: string[];
  netSoftnetBlock?: string[];
  netBridged?: string;
  headless?: boolean;
  nested?: boolean;
  suspendable?: boolean;
  audio?: boolean;
  clipboard?: boolean;
  usbAccessories?: boolean;
  netSoftnetExpose?: string[];
  endpoint?: string[];
  username: string;
  password: string;
  resources?: string[];
  labels?: string[];
  randomSerial?: boolean;
  restartPolicy: RestartPolicy;
  startupScript?: string;
  hostDirs?: string[];
  imagePullPolicy: ImagePullPolicy;
}

/** The syntax of `--endpoint`, for messages and `--help`. */
export const ENDPOINT_FLAG_SYNTAX = 'NAME:PROTO:VMPORT[:WORKERPORT|:MIN-MAX]';

/**
 * Parses one `--endpoint` value: `ssh:tcp:22` (a worker port the OS picks), `ssh:tcp:22:2222` (exactly worker port
 * 2222) or `dns:udp:53:5300-5399` (the first free worker port of the range). Ports are checked by
 * {@link validateEndpoints}.
 */
export function parseEndpointFlag(text: string): VmEndpoint {
  const parts = text.split(':');
  const [name, protocol, vmPort, range] = parts;
  const port = (digits: string | undefined) =>
    digits !== undefined && /^\d{1,5}$/.test(digits) ? Number(digits) : NaN;
  const bounds = range === undefined ? undefined : /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(range);
  if (
    parts.length < 3 ||
    parts.length > 4 ||
    !(ENDPOINT_PROTOCOLS as readonly string[]).includes(protocol) ||
    Number.isNaN(port(vmPort)) ||
    (range !== undefined && !bounds)
  ) {
    throw new UsageError(
      `--endpoint "${text}": expected ${ENDPOINT_FLAG_SYNTAX} with PROTO tcp or udp (e.g. ssh:tcp:22:2222)`,
    );
  }
  return {
    name,
    protocol: protocol as EndpointProtocol,
    target: { vm: { port: port(vmPort) } },
    ...(bounds ? { workerPortRange: { min: Number(bounds[1]), max: Number(bounds[2] ?? bounds[1]) } } : {}),
  };
}

/** Splits repeatable, comma-separated flag values (`--x a,b --x c` → a, b, c), dropping empty items. */
export function splitList(items: readonly string[]): string[] {
  return items
    .flatMap((item) => item.split(','))
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function usage<T>(what: () => T): T {
  try {
    return what();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Turns `grove create vm` flags into the request body. Like Orchard's CLI it always sends CPU and memory, so worker
 * defaults apply only to API users. `--startup-script @path` reads the script from a file.
 */
export function buildVmCreateInput(
  name: string,
  flags: VmCreateFlags,
  readFile: (path: string) => string,
): VmCreateInput {
  const input: VmCreateInput = {
    name,
    image: flags.image,
    imagePullPolicy: flags.imagePullPolicy,
    os: flags.os,
    arch: flags.arch,
    runtime: flags.runtime,
    cpu: flags.cpu,
    memory: flags.memory,
    diskSize: flags.diskSize,
    headless: flags.headless ?? true,
    nested: flags.nested ?? false,
    netSoftnet: flags.netSoftnet ?? false,
    netSoftnetAllow: splitList(flags.netSoftnetAllow ?? []),
    netSoftnetBlock: splitList(flags.netSoftnetBlock ?? []),
    suspendable: flags.suspendable ?? false,
    username: flags.username,
    password: flags.password,
    resources: usage(() => parseResources(flags.resources ?? [])),
    labels: usage(() => parseLabels(flags.labels ?? [])),
    randomSerial: flags.randomSerial ?? false,
    restart_policy: flags.restartPolicy,
    hostDirs: usage(() => splitList(flags.hostDirs ?? []).map(parseHostDir)),
  };
  // The fields of newer Orchard (issue 12) are sent only when asked for, so that this CLI still creates VMs on a
  // controller that predates them (it refuses unknown fields).
  if (flags.audio) {
    input.audio = true;
  }
  if (flags.clipboard) {
    input.clipboard = true;
  }
  if (flags.usbAccessories !== undefined) {
    input.usbAccessories = flags.usbAccessories;
  }
  const expose = splitList(flags.netSoftnetExpose ?? []);
  if (expose.length > 0) {
    const problems = validateSoftnetExpose(expose);
    if (problems.length > 0) {
      throw new UsageError(`--net-softnet-expose: ${problems.map((p) => p.message).join('; ')}`);
    }
    input.netSoftnetExpose = expose;
  }
  const endpoints = (flags.endpoint ?? []).map(parseEndpointFlag);
  if (endpoints.length > 0) {
    const problems = validateEndpoints(endpoints, input.netSoftnetExpose ?? []);
    if (problems.length > 0) {
      throw new UsageError(`--endpoint: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`);
    }
    input.endpoints = endpoints;
  }
  if (flags.netBridged !== undefined && flags.netBridged !== '') {
    input['net-bridged'] = flags.netBridged;
  }
  if (flags.startupScript !== undefined) {
    input.startup_script = { script_content: startupScript(flags.startupScript, readFile) };
  }
  return input;
}

function startupScript(value: string, readFile: (path: string) => string): string {
  if (!value.startsWith('@')) {
    return value;
  }
  const path = value.slice(1);
  if (path === '') {
    throw new UsageError('--startup-script "@" needs a file name after the @');
  }
  try {
    return readFile(path);
  } catch (err) {
    throw new CliError(`cannot read the startup script ${path}: ${(err as Error).message}`, { cause: err });
  }
}
