import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths';

/** The Grafana dashboard shipped in the docs (docs/observability.md says how to import it). */
export const DASHBOARD_FILE = join(REPO_ROOT, 'docs', 'grafana', 'grove.json');

/** One PromQL query of the dashboard: the panel it belongs to and its target's `refId`. */
export interface DashboardQuery {
  panel: string;
  refId: string;
  expr: string;
}

export function readDashboard(): Record<string, unknown> {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Record<string, unknown>;
}

/**
 * Every `expr` anywhere in the dashboard (panels, panels inside rows, any future place), named by the nearest panel
 * title above it: a query added anywhere is checked without this list being told.
 */
export function dashboardQueries(node: unknown, panel = '(dashboard)'): DashboardQuery[] {
  if (Array.isArray(node)) {
    return node.flatMap((item) => dashboardQueries(item, panel));
  }
  if (typeof node !== 'object' || node === null) {
    return [];
  }
  const object = node as Record<string, unknown>;
  const here = typeof object.title === 'string' ? object.title : panel;
  const own: DashboardQuery[] =
    typeof object.expr === 'string'
      ? [{ panel: here, refId: typeof object.refId === 'string' ? object.refId : '?', expr: object.expr }]
      : [];
  return [
    ...own,
    ...Object.entries(object)
      .filter(([key]) => key !== 'expr')
      .flatMap(([, value]) => dashboardQueries(value, here)),
  ];
}

/**
 * `expr` as Grafana sends it to Prometheus: its global variables (`$__rate_interval`, `${__rate_interval}`, …)
 * replaced by `values`. A variable without a value is an error naming it, so that a query the test cannot evaluate
 * as Grafana would is never sent half-substituted.
 */
export function withGrafanaVariables(expr: string, values: Record<string, string>): string {
  const substituted = expr.replace(
    /\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (whole, a?: string, b?: string, c?: string) => {
      const name = a ?? b ?? c ?? '';
      const value = values[name];
      if (value === undefined) {
        throw new Error(`${expr}: no value for the Grafana variable ${whole}`);
      }
      return value;
    },
  );
  return substituted;
}
