import {
  parseHostDir,
  parseLabels,
  parseResources,
  validateEndpoints,
  validateHostProcesses,
  validateSoftnetExpose,
  ENDPOINT_PROTOCOLS,
  type EndpointProtocol,
  type Architecture,
  type HostProcess,
  type ImagePullPolicy,
  type Os,
  type RestartPolicy,
  type Runtime,
  type VmCreateInput,
  type VmEndpoint,
} from '@grove/resources';
import { CliError, UsageError } from './cli.errors';
import { splitShellWords } from './shell-words';

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
  hostProcess?: string[];
  hostProcessEnv?: string[];
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

/** The syntax of `--host-process` and `--host-process-env`, for messages and `--help`. */
export const HOST_PROCESS_FLAG_SYNTAX = 'NAME=PROGRAM [ARG...]';
export const HOST_PROCESS_ENV_FLAG_SYNTAX = 'NAME:KEY=VALUE';

/**
 * Parses one `--host-process` value, `proxy=/usr/bin/socat UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET} TCP:127.0.0.1:80`:
 * the name before the first `=`, then the command, split into program and arguments as a shell splits quoted words
 * but without expanding anything ({@link splitShellWords}): the worker fills in the `${ORCHARD_…}` placeholders.
 */
export function parseHostProcessFlag(text: string): HostProcess {
  const equals = text.indexOf('=');
  const expected = `--host-process "${text}": expected ${HOST_PROCESS_FLAG_SYNTAX} (e.g. 'proxy=/usr/bin/socat ...')`;
  if (equals < 0) {
    throw new UsageError(expected);
  }
  const command = text.slice(equals + 1);
  let words: string[];
  try {
    words = splitShellWords(command);
  } catch (err) {
    throw new UsageError(
      `--host-process "${text}": cannot split ${JSON.stringify(command)} into words: ${(err as Error).message}`,
    );
  }
  if (words.length === 0) {
    throw new UsageError(`${expected}; PROGRAM is missing`);
  }
  const [program, ...args] = words;
  return { name: text.slice(0, equals), program, ...(args.length > 0 ? { args } : {}) };
}

/**
 * Adds one `--host-process-env NAME:KEY=VALUE` to the host process NAME of `processes`. NAME may hold `:` (simple
 * names allow it) but KEY may not, so the last `:` before the first `=` ends the name. Keys are checked with the rest
 * of the host process by {@link validateHostProcesses}.
 */
export function addHostProcessEnvFlag(processes: HostProcess[], text: string): void {
  const equals = text.indexOf('=');
  const colon = equals < 0 ? -1 : text.lastIndexOf(':', equals);
  if (colon < 0) {
    throw new UsageError(
      `--host-process-env "${text}": expected ${HOST_PROCESS_ENV_FLAG_SYNTAX} (e.g. proxy:LOG_LEVEL=debug)`,
    );
  }
  const name = text.slice(0, colon);
  const key = text.slice(colon + 1, equals);
  const hostProcess = processes.find((p) => p.name === name);
  if (!hostProcess) {
    const known = processes.length > 0 ? ` (there is ${processes.map((p) => `"${p.name}"`).join(', ')})` : '';
    throw new UsageError(`--host-process-env "${text}": no --host-process is named "${name}"${known}`);
  }
  if (hostProcess.env && Object.hasOwn(hostProcess.env, key)) {
    throw new UsageError(`--host-process-env "${text}": ${key} of host process "${name}" is given twice`);
  }
  hostProcess.env = { ...hostProcess.env, [key]: text.slice(equals + 1) };
}

/** `--host-process` and `--host-process-env` as the VM's `hostProcesses`, checked; empty when neither is given. */
function hostProcessesFromFlags(flags: Pick<VmCreateFlags, 'hostProcess' | 'hostProcessEnv'>): HostProcess[] {
  const processes = (flags.hostProcess ?? []).map(parseHostProcessFlag);
  for (const text of flags.hostProcessEnv ?? []) {
    addHostProcessEnvFlag(processes, text);
  }
  const problems = validateHostProcesses(processes);
  if (problems.length > 0) {
    // A problem with an env key comes from --host-process-env, the others from --host-process.
    const groups = (['--host-process', '--host-process-env'] as const)
      .map((flag) => {
        const own = problems.filter((p) => p.field.includes('.env.') === (flag === '--host-process-env'));
        return own.length > 0 ? `${flag}: ${own.map((p) => `${p.field} ${p.message}`).join('; ')}` : '';
      })
      .filter((group) => group !== '');
    throw new UsageError(groups.join('; '));
  }
  return processes;
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
  const hostProcesses = hostProcessesFromFlags(flags);
  if (hostProcesses.length > 0) {
    input.hostProcesses = hostProcesses;
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
