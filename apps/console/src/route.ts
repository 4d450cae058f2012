/** Hash routes (issue 16 contract): `#/fleet`, `#/vms`, `#/vms/NAME`, `#/vms/NAME/terminal|screen|ports`. */

export const VM_TABS = ['overview', 'terminal', 'screen', 'ports'] as const;
export type VmTab = (typeof VM_TABS)[number];

export type Route = { page: 'fleet' } | { page: 'vms' } | { page: 'vm'; name: string; tab: VmTab };

export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((p) => p !== '');
  if (parts[0] === 'fleet') {
    return { page: 'fleet' };
  }
  if (parts[0] === 'vms' && parts[1]) {
    const tab = (VM_TABS as readonly string[]).includes(parts[2] ?? '') ? (parts[2] as VmTab) : 'overview';
    return { page: 'vm', name: decodeName(parts[1]), tab };
  }
  return { page: 'vms' };
}

/** A name from the address bar; a malformed escape (`%E0%A4%A`, typed or cut off) is kept as typed, not thrown. */
function decodeName(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

export function routeHref(route: Route): string {
  switch (route.page) {
    case 'fleet':
      return '#/fleet';
    case 'vms':
      return '#/vms';
    case 'vm':
      return `#/vms/${encodeURIComponent(route.name)}${route.tab === 'overview' ? '' : `/${route.tab}`}`;
  }
}

export function vmHref(name: string, tab: VmTab = 'overview'): string {
  return routeHref({ page: 'vm', name, tab });
}
