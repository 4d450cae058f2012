import type * as Yaml from 'yaml';

/**
 * The `yaml` package, required on first use rather than at start-up: it is 72 modules, ~30 ms of every command's time
 * that most commands do not need (config.yml is usually read by config/plain-yaml.ts; see docs/benchmarks.md,
 * "CLI start-up").
 */
function yaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, see above
  return require('yaml') as typeof Yaml;
}

export function parseYaml(text: string): unknown {
  return yaml().parse(text);
}

export function stringifyYaml(value: unknown): string {
  return yaml().stringify(value);
}
