import type { SchedulerProfile } from './enums';
import type { HostDir } from './vm';

/** A prefix under which VMs may mount host directories; `ro` policies only admit read-only mounts. */
export interface HostDirPolicy {
  pathPrefix: string;
  ro?: boolean;
}

export interface ClusterSettings {
  hostDirPolicies: HostDirPolicy[];
  schedulerProfile: SchedulerProfile;
}

export const DEFAULT_CLUSTER_SETTINGS: ClusterSettings = {
  hostDirPolicies: [],
  schedulerProfile: 'optimize-utilization',
};

function trimTrailingSlash(text: string): string {
  return text.endsWith('/') ? text.slice(0, -1) : text;
}

/**
 * Whether one policy admits a host directory. Orchard's rule (orchard.md §2.6): never a path with `..`; a read-only
 * policy needs a read-only mount; then a plain string prefix match after trimming one trailing slash (so
 * `/a/src2` matches `/a/src`, kept for compatibility).
 */
export function hostDirPolicyAllows(policy: HostDirPolicy, dir: Pick<HostDir, 'path' | 'ro'>): boolean {
  if (dir.path.includes('..')) {
    return false;
  }
  if (policy.ro && !dir.ro) {
    return false;
  }
  return trimTrailingSlash(dir.path).startsWith(trimTrailingSlash(policy.pathPrefix));
}

/** Whether any of the cluster's policies admits the directory; with no policies, none is admitted. */
export function hostDirAllowed(policies: readonly HostDirPolicy[], dir: Pick<HostDir, 'path' | 'ro'>): boolean {
  return policies.some((policy) => hostDirPolicyAllows(policy, dir));
}

/** Parses the CLI form `prefix[:ro]`; `http://` and `https://` prefixes are kept whole. */
export function parseHostDirPolicy(text: string): HostDirPolicy {
  let prefix = text;
  let ro = false;
  if (prefix.endsWith(':ro')) {
    ro = true;
    prefix = prefix.slice(0, -3);
  }
  if (prefix === '') {
    throw new Error(`invalid host directory policy "${text}": the path prefix is empty`);
  }
  return { pathPrefix: prefix, ro };
}
