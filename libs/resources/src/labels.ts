import type { Labels, Resources } from './vm';

/**
 * Reads a key of a label or resource map as an own property only: names such as `constructor` or `__proto__` are
 * ordinary user-chosen keys here, not the object's prototype members.
 */
function own<T>(map: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Writes a key as an own property, so that `__proto__` is stored like any other name instead of being dropped. */
function put<T>(map: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A VM's labels match a worker when the worker carries every one of them with the same value. */
export function labelsMatch(required: Labels, offered: Labels): boolean {
  return Object.entries(required).every(([key, value]) => own(offered, key) === value);
}

/** Adds resource maps together (missing keys count as zero). */
export function sumResources(maps: Iterable<Resources>): Resources {
  const total: Resources = {};
  for (const map of maps) {
    for (const [key, value] of Object.entries(map)) {
      put(total, key, (own(total, key) ?? 0) + value);
    }
  }
  return total;
}

/**
 * What is left of one resource. A worker can hold more than it offers (it re-registered with less, or VMs were
 * placed before its limits shrank); it then has nothing left, rather than a negative amount (Orchard's unsigned
 * subtraction wraps around instead, and sees an overcommitted worker as nearly infinite).
 */
function free(key: string, offered: Resources, used: Resources): number {
  return Math.max(0, (own(offered, key) ?? 0) - (own(used, key) ?? 0));
}

/** A VM fits when, for every resource it asks for, what the worker offers minus what is used covers it. */
export function resourcesFit(requested: Resources, offered: Resources, used: Resources): boolean {
  return missingResources(requested, offered, used).length === 0;
}

/** Names of the resources that do not fit, for explaining why a VM stays pending. */
export function missingResources(requested: Resources, offered: Resources, used: Resources): string[] {
  return Object.entries(requested)
    .filter(([key, value]) => free(key, offered, used) < value)
    .map(([key]) => key);
}

/** Parses `k=v` pairs as used by `--labels` (repeatable or comma-separated). */
export function parseLabels(items: readonly string[]): Labels {
  const labels: Labels = {};
  for (const pair of splitPairs(items)) {
    const [key, value] = splitPair(pair);
    put(labels, key, value);
  }
  return labels;
}

/** Parses `k=v` pairs as used by `--resources`; values must be non-negative integers. */
export function parseResources(items: readonly string[]): Resources {
  const resources: Resources = {};
  for (const pair of splitPairs(items)) {
    const [key, value] = splitPair(pair);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new Error(`invalid resource "${pair}": the amount must be a non-negative integer`);
    }
    put(resources, key, Number(value));
  }
  return resources;
}

function splitPairs(items: readonly string[]): string[] {
  return items.flatMap((item) => item.split(',')).filter((item) => item !== '');
}

function splitPair(pair: string): [string, string] {
  const idx = pair.indexOf('=');
  if (idx <= 0) {
    throw new Error(`invalid pair "${pair}": expected key=value`);
  }
  return [pair.slice(0, idx), pair.slice(idx + 1)];
}
