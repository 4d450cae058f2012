import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ForeignError } from './errors';

/** How a pull fails (TART_STANDIN_PULL_FAILURE). */
export type PullFailure =
  | { kind: 'http'; code: 401 | 403 | 404 }
  /** A URLError: retried by Tart; `attempts` is how many attempts fail before one succeeds (Infinity: all). */
  | { kind: 'network'; attempts: number };

/**
 * Everything the stand-in reads from its environment, parsed and validated once (STYLE.md: one typed config, fail
 * fast listing every invalid variable). main.ts's header and README.md describe each variable.
 */
export interface Knobs {
  tartHome: string;
  /** `CI` is set: progress as plain lines. */
  ci: boolean;
  /** `TART_NO_AUTO_PRUNE` is set (the stand-in never prunes anyway; accepted for fidelity). */
  noAutoPrune: boolean;
  version: string;
  /** Path of a catalogue JSON file, or the JSON itself; undefined: the built-in catalogue. */
  registry: string | undefined;
  pullFailure: PullFailure | undefined;
  pullDelayMs: number;
  cloneDelayMs: number;
  cloneDiskFull: boolean;
  bootDelayMs: number;
  noIp: boolean;
  forceIp: string | undefined;
  leaseSeconds: number;
  leasesFile: string;
  agentAbsent: boolean;
  agentDelayMs: number;
  vmLimit: number;
  guestStopAfterMs: number | undefined;
  startFailure: string | undefined;
  suspendFailure: string | undefined;
  softnetFailure: boolean;
  bridgeInterfaces: string[];
  execConnectTimeoutMs: number;
  ipPollMs: number;
}

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

const DEFAULT_START_FAILURE =
  'Error Domain=VZErrorDomain Code=1 "The virtual machine failed to start." ' +
  'UserInfo={NSLocalizedFailure=The virtual machine failed to start.}';
export const DEFAULT_SUSPEND_FAILURE =
  'The virtual machine configuration does not support saving and restoring its state.';

function truthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

export function loadKnobs(env: NodeJS.ProcessEnv = process.env): Knobs {
  const problems: string[] = [];

  function int(name: string, fallback: number): number {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      return fallback;
    }
    if (!/^\d+$/.test(raw)) {
      problems.push(`${name}=${raw} is not a non-negative integer`);
      return fallback;
    }
    return Number(raw);
  }

  function optionalInt(name: string): number | undefined {
    return env[name] === undefined || env[name] === '' ? undefined : int(name, 0);
  }

  function pullFailure(): PullFailure | undefined {
    const raw = env.TART_STANDIN_PULL_FAILURE;
    if (raw === undefined || raw === '') {
      return undefined;
    }
    if (raw === '401' || raw === '403' || raw === '404') {
      return { kind: 'http', code: Number(raw) as 401 | 403 | 404 };
    }
    const network = /^network(?::(\d+))?$/.exec(raw);
    if (network) {
      return { kind: 'network', attempts: network[1] === undefined ? Infinity : Number(network[1]) };
    }
    problems.push(`TART_STANDIN_PULL_FAILURE=${raw} is not one of 401, 403, 404, network, network:<N>`);
    return undefined;
  }

  const tartHome = resolve(
    env.TART_HOME !== undefined && env.TART_HOME !== '' ? env.TART_HOME : join(homedir(), '.tart'),
  );
  const version =
    env.TART_STANDIN_VERSION !== undefined && env.TART_STANDIN_VERSION !== '' ? env.TART_STANDIN_VERSION : '2.35.0';
  if (!SEMVER.test(version)) {
    problems.push(`TART_STANDIN_VERSION=${version} is not a semantic version (Orchard parses it as one)`);
  }
  const forceIp = env.TART_STANDIN_FORCE_IP === '' ? undefined : env.TART_STANDIN_FORCE_IP;
  if (forceIp !== undefined && !IPV4.test(forceIp)) {
    problems.push(`TART_STANDIN_FORCE_IP=${forceIp} is not an IPv4 address`);
  }
  const agent = env.TART_STANDIN_AGENT ?? 'present';
  if (agent !== 'present' && agent !== 'absent' && agent !== '') {
    problems.push(`TART_STANDIN_AGENT=${agent} is not "present" or "absent"`);
  }

  const knobs: Knobs = {
    tartHome,
    ci: env.CI !== undefined,
    noAutoPrune: env.TART_NO_AUTO_PRUNE !== undefined,
    version,
    registry: env.TART_STANDIN_REGISTRY === '' ? undefined : env.TART_STANDIN_REGISTRY,
    pullFailure: pullFailure(),
    pullDelayMs: int('TART_STANDIN_PULL_DELAY_MS', 0),
    cloneDelayMs: int('TART_STANDIN_CLONE_DELAY_MS', 0),
    cloneDiskFull: truthy(env.TART_STANDIN_CLONE_DISK_FULL),
    bootDelayMs: int('TART_STANDIN_BOOT_DELAY_MS', 200),
    noIp: truthy(env.TART_STANDIN_NO_IP),
    forceIp,
    leaseSeconds: int('TART_STANDIN_LEASE_SECONDS', 86_400),
    leasesFile: resolve(env.TART_STANDIN_LEASES || join(tartHome, 'standin', 'dhcpd_leases')),
    agentAbsent: agent === 'absent',
    agentDelayMs: int('TART_STANDIN_AGENT_DELAY_MS', 0),
    vmLimit: int('TART_STANDIN_VM_LIMIT', 2),
    guestStopAfterMs: optionalInt('TART_STANDIN_GUEST_STOP_AFTER_MS'),
    startFailure: truthy(env.TART_STANDIN_START_FAILURE)
      ? env.TART_STANDIN_START_FAILURE === '1'
        ? DEFAULT_START_FAILURE
        : env.TART_STANDIN_START_FAILURE
      : undefined,
    suspendFailure: truthy(env.TART_STANDIN_SUSPEND_FAILURE)
      ? env.TART_STANDIN_SUSPEND_FAILURE === '1'
        ? DEFAULT_SUSPEND_FAILURE
        : env.TART_STANDIN_SUSPEND_FAILURE
      : undefined,
    softnetFailure: truthy(env.TART_STANDIN_SOFTNET_FAILURE),
    bridgeInterfaces: (env.TART_STANDIN_BRIDGE_INTERFACES ?? 'en0')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    execConnectTimeoutMs: int('TART_STANDIN_EXEC_CONNECT_TIMEOUT_MS', 2_000),
    ipPollMs: int('TART_STANDIN_IP_POLL_MS', 1_000),
  };
  if (problems.length > 0) {
    throw new ForeignError(`invalid stand-in configuration: ${problems.join('; ')}`);
  }
  return knobs;
}
