import { readFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import {
  decodeBootstrapToken,
  parseLabels,
  parseResources,
  RESOURCE_LOGICAL_CORES,
  RESOURCE_MEMORY_MIB,
  RESOURCE_TART_VMS,
  type BootstrapToken,
} from '@grove/resources';

export interface WorkerConfig {
  controllerUrl: string;
  credentials: BootstrapToken;
  name: string;
  labels: Record<string, string>;
  resources: Record<string, number>;
  defaultCpu: number;
  defaultMemory: number;
}

export class WorkerConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid worker configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** `https://` and port 6120 unless given, as Orchard normalises controller addresses. */
export function normaliseControllerUrl(text: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`;
  const url = new URL(withScheme);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`the controller URL must use http or https, not ${url.protocol}`);
  }
  if (url.port === '') {
    url.port = '6120';
  }
  return url.toString().replace(/\/$/, '');
}

/** Resources every worker offers without being told: its cores and memory, and two macOS VM slots for Tart. */
export function automaticResources(): Record<string, number> {
  return {
    [RESOURCE_TART_VMS]: 2,
    [RESOURCE_LOGICAL_CORES]: cpus().length,
    [RESOURCE_MEMORY_MIB]: Math.floor(totalmem() / (1024 * 1024)),
  };
}

/**
 * Reads `grove worker run` flags. The bootstrap token comes from exactly one of `--bootstrap-token`,
 * `--bootstrap-token-stdin` (passed as `stdinToken`) or `--bootstrap-token-file`.
 */
export function loadWorkerConfig(argv: string[], stdinToken?: () => string): WorkerConfig {
  const problems: string[] = [];
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'bootstrap-token': { type: 'string' },
        'bootstrap-token-stdin': { type: 'boolean' },
        'bootstrap-token-file': { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string', multiple: true },
        resources: { type: 'string', multiple: true },
        'default-cpu': { type: 'string' },
        'default-memory': { type: 'string' },
      },
    });
  } catch (err) {
    throw new WorkerConfigError([(err as Error).message]);
  }
  const { values, positionals } = parsed;
  let controllerUrl = '';
  if (positionals.length !== 1) {
    problems.push('exactly one CONTROLLER_URL argument is required');
  } else {
    try {
      controllerUrl = normaliseControllerUrl(positionals[0]);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const sources = [values['bootstrap-token'], values['bootstrap-token-stdin'], values['bootstrap-token-file']].filter(
    (v) => v !== undefined && v !== false,
  );
  let credentials: BootstrapToken | undefined;
  if (sources.length !== 1) {
    problems.push(
      'give the bootstrap token with exactly one of --bootstrap-token, --bootstrap-token-stdin or --bootstrap-token-file',
    );
  } else {
    try {
      const text = values['bootstrap-token-stdin']
        ? (stdinToken?.() ?? '')
        : values['bootstrap-token-file']
          ? readFileSync(values['bootstrap-token-file'], 'utf8')
          : values['bootstrap-token']!;
      credentials = decodeBootstrapToken(text);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const integer = (flag: string, fallback: number): number => {
    const text = values[flag as 'default-cpu'];
    if (text === undefined) {
      return fallback;
    }
    if (!/^\d+$/.test(text)) {
      problems.push(`--${flag} "${text}" must be a non-negative integer`);
      return fallback;
    }
    return Number(text);
  };
  let labels: Record<string, string> = {};
  let resources: Record<string, number> = {};
  try {
    labels = parseLabels(values.labels ?? []);
  } catch (err) {
    problems.push(`--labels: ${(err as Error).message}`);
  }
  try {
    resources = { ...automaticResources(), ...parseResources(values.resources ?? []) };
  } catch (err) {
    problems.push(`--resources: ${(err as Error).message}`);
  }
  const config = {
    controllerUrl,
    name: values.name ?? hostname(),
    labels,
    resources,
    defaultCpu: integer('default-cpu', 4),
    defaultMemory: integer('default-memory', 8192),
  };
  if (problems.length > 0 || !credentials) {
    throw new WorkerConfigError(problems);
  }
  return { ...config, credentials };
}
