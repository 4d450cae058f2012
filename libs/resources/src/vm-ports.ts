import type { FieldError } from './errors';
import { ENDPOINT_PROTOCOLS, type Vm, type VmEndpoint, type VmSpec } from './vm';

/*
 * The worker ports of a VM: Softnet's exposed ports (`netSoftnetExpose`, orchard-2026.md §1.2.9) and VM endpoints
 * (orchard-2026.md §1.2.2), their checks, and whether the ports several VMs claim fit on one worker.
 */

/** A TCP/UDP port as Softnet takes it: decimal digits only (no sign), 1–65535. */
function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) {
    return undefined;
  }
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** The worker ports a VM's `netSoftnetExpose` takes (the EXTERNAL parts), skipping entries that do not parse. */
export function exposedWorkerPorts(vm: Pick<Vm, 'netSoftnetExpose'>): number[] {
  // Stored VMs that predate the field have none.
  return (vm.netSoftnetExpose ?? []).flatMap((entry) => {
    const parts = entry.split(':');
    const port = parts.length === 2 ? parsePort(parts[0]) : undefined;
    return port === undefined ? [] : [port];
  });
}

/**
 * Checks `netSoftnetExpose` (orchard-2026.md §1.2.9): each entry `EXTERNAL:INTERNAL` with ports 1–65535, and no
 * external port twice (two rules for one worker port cannot both hold).
 */
export function validateSoftnetExpose(entries: readonly string[]): FieldError[] {
  const errors: FieldError[] = [];
  const external = new Set<number>();
  entries.forEach((entry, i) => {
    const parts = entry.split(':');
    const ports = parts.length === 2 ? parts.map(parsePort) : [];
    const [outer, inner] = ports;
    if (outer === undefined || inner === undefined) {
      errors.push({
        field: `netSoftnetExpose[${i}]`,
        message: `"${entry}" must be EXTERNAL:INTERNAL with both ports between 1 and 65535`,
      });
      return;
    }
    if (external.has(outer)) {
      errors.push({ field: `netSoftnetExpose[${i}]`, message: `external port ${outer} is exposed more than once` });
    }
    external.add(outer);
  });
  return errors;
}

function isPort(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

/**
 * Checks VM `endpoints` (orchard-2026.md §1.2.2): names non-empty and unique, protocol `tcp` or `udp`, ports
 * 1–65535, `workerPortRange.min ≤ max`; a pinned worker port (equal bounds) must not be one of the VM's
 * `netSoftnetExpose` external ports or another endpoint's pin. Each error names the item and field
 * (`endpoints[1].target.vm.port`).
 */
export function validateEndpoints(
  endpoints: readonly VmEndpoint[],
  netSoftnetExpose: readonly string[] = [],
): FieldError[] {
  const errors: FieldError[] = [];
  const names = new Set<string>();
  const pinned = new Set(exposedWorkerPorts({ netSoftnetExpose: [...netSoftnetExpose] }));
  endpoints.forEach((endpoint, i) => {
    const at = `endpoints[${i}]`;
    if (!endpoint.name) {
      errors.push({ field: `${at}.name`, message: 'must not be empty' });
    } else if (names.has(endpoint.name)) {
      errors.push({ field: `${at}.name`, message: `endpoint "${endpoint.name}" is declared more than once` });
    }
    names.add(endpoint.name);
    if (!(ENDPOINT_PROTOCOLS as readonly string[]).includes(endpoint.protocol)) {
      errors.push({ field: `${at}.protocol`, message: `must be one of: ${ENDPOINT_PROTOCOLS.join(', ')}` });
    }
    if (!isPort(endpoint.target?.vm?.port)) {
      errors.push({ field: `${at}.target.vm.port`, message: 'must be a port between 1 and 65535' });
    }
    const range = endpoint.workerPortRange;
    if (range === undefined) {
      return;
    }
    const before = errors.length;
    for (const bound of ['min', 'max'] as const) {
      if (!isPort(range[bound])) {
        errors.push({ field: `${at}.workerPortRange.${bound}`, message: 'must be a port between 1 and 65535' });
      }
    }
    if (errors.length > before) {
      return;
    }
    if (range.min > range.max) {
      errors.push({ field: `${at}.workerPortRange`, message: `min ${range.min} must not exceed max ${range.max}` });
    } else if (range.min === range.max) {
      if (pinned.has(range.min)) {
        errors.push({
          field: `${at}.workerPortRange`,
          message: `worker port ${range.min} is taken by netSoftnetExpose or another endpoint`,
        });
      }
      pinned.add(range.min);
    }
  });
  return errors;
}

/** A worker port a VM needs: one of `min…max` (equal bounds for an exact port). */
export interface WorkerPortClaim {
  min: number;
  max: number;
}

/**
 * The worker ports a VM claims (orchard-2026.md §1.2.2, §1.2.9): each `netSoftnetExpose` external port, and one port of
 * each endpoint's `workerPortRange`. Endpoints without a range take whatever the OS gives and claim nothing.
 */
export function workerPortClaims(vm: Pick<Vm, 'netSoftnetExpose' | 'endpoints'>): WorkerPortClaim[] {
  return [
    ...exposedWorkerPorts(vm).map((port) => ({ min: port, max: port })),
    ...(vm.endpoints ?? []).flatMap((e) =>
      e.workerPortRange && e.workerPortRange.min <= e.workerPortRange.max ? [{ ...e.workerPortRange }] : [],
    ),
  ];
}

/**
 * Whether every claim can get a port of its own: claims sorted by their upper bound (earliest deadline first) each
 * take the lowest free port of their range, which finds an assignment whenever one exists.
 */
export function workerPortClaimsFit(claims: readonly WorkerPortClaim[]): boolean {
  const taken = new Set<number>();
  for (const claim of [...claims].sort((a, b) => a.max - b.max || a.min - b.min)) {
    let port = claim.min;
    while (port <= claim.max && taken.has(port)) {
      port++;
    }
    if (port > claim.max) {
      return false;
    }
    taken.add(port);
  }
  return true;
}

export function copyEndpoints(endpoints: readonly VmEndpoint[]): VmEndpoint[] {
  return endpoints.map((e) => ({
    name: e.name,
    protocol: e.protocol,
    target: { vm: { port: e.target.vm.port } },
    ...(e.workerPortRange ? { workerPortRange: { min: e.workerPortRange.min, max: e.workerPortRange.max } } : {}),
  }));
}

/** Two endpoint lists alike, field by field and in order (absent and empty are alike). */
export function sameEndpoints(a: readonly VmEndpoint[] | undefined, b: readonly VmEndpoint[] | undefined): boolean {
  return JSON.stringify(copyEndpoints(a ?? [])) === JSON.stringify(copyEndpoints(b ?? []));
}

/**
 * `endpoints` of an updated spec: undefined when there are none, so that spreading the spec over the VM drops the old
 * list and the stored document omits the field (as Orchard does).
 */
export function endpointsField(endpoints: readonly VmEndpoint[] | undefined): Pick<VmSpec, 'endpoints'> {
  return { endpoints: endpoints && endpoints.length > 0 ? copyEndpoints(endpoints) : undefined };
}
