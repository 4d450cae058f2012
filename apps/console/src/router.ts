/** The current hash route as a signal; the routes themselves are in route.ts. */
import { signal } from '@preact/signals';
import { parseRoute, type Route } from './route';

export { VM_TABS, parseRoute, routeHref, vmHref, type Route, type VmTab } from './route';

export const route = signal<Route>(parseRoute(location.hash));

window.addEventListener('hashchange', () => {
  route.value = parseRoute(location.hash);
});

export function navigate(href: string): void {
  location.hash = href;
}
