/**
 * The create form's content and the `POST /v1/vms` body made of it (Orchard's VM fields, as `grove create vm` sends
 * them). Only what cannot be sent at all is refused here, naming the field; the API validates the rest.
 */
import { parsePairs } from './format';

/** What the form holds: text as typed, so that nothing is lost when the API refuses it. */
export interface Draft {
  name: string;
  image: string;
  cpu: string;
  memory: string;
  diskSize: string;
  imagePullPolicy: string;
  network: 'default' | 'softnet' | 'bridged';
  bridged: string;
  headless: boolean;
  nested: boolean;
  suspendable: boolean;
  randomSerial: boolean;
  audio: boolean;
  clipboard: boolean;
  /** Softnet's allowed and blocked CIDRs, comma or line separated. */
  softnetAllow: string;
  softnetBlock: string;
  restartPolicy: string;
  username: string;
  password: string;
  labels: string;
  resources: string;
  hostDirs: string;
  startupScript: string;
}

export const EMPTY_DRAFT: Draft = {
  name: '',
  image: '',
  cpu: '',
  memory: '',
  diskSize: '',
  imagePullPolicy: 'IfNotPresent',
  network: 'default',
  bridged: '',
  headless: true,
  nested: false,
  suspendable: false,
  randomSerial: false,
  audio: false,
  clipboard: false,
  softnetAllow: '',
  softnetBlock: '',
  restartPolicy: 'Never',
  username: '',
  password: '',
  labels: '',
  resources: '',
  hostDirs: '',
  startupScript: '',
};

/** Input of one form field (named as the API names it) that cannot be sent. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'FieldError';
  }
}

/** Runs `parse` for the API field `field`, turning its error into a FieldError. */
function forField<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new FieldError(field, err instanceof Error ? err.message : String(err));
  }
}

function list(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

function int(field: string, text: string): number | undefined {
  const t = text.trim();
  if (t === '') {
    return undefined;
  }
  if (!/^-?\d+$/.test(t)) {
    throw new Error(`${field}: "${t}" is not a whole number`);
  }
  return Number(t);
}

/** The request body; throws a FieldError naming the field for input that cannot even be sent. */
export function toCreateBody(d: Draft): Record<string, unknown> {
  const body: Record<string, unknown> = { name: d.name.trim(), image: d.image.trim() };
  const numbers: [string, string, string][] = [
    ['cpu', 'CPUs', d.cpu],
    ['memory', 'Memory', d.memory],
    ['diskSize', 'Disk size', d.diskSize],
  ];
  for (const [key, label, text] of numbers) {
    const value = forField(key, () => int(label, text));
    if (value !== undefined) {
      body[key] = value;
    }
  }
  body.imagePullPolicy = d.imagePullPolicy;
  if (d.network === 'softnet') {
    body['net-softnet'] = true;
    const allow = list(d.softnetAllow);
    const block = list(d.softnetBlock);
    if (allow.length > 0) {
      body.netSoftnetAllow = allow;
    }
    if (block.length > 0) {
      body.netSoftnetBlock = block;
    }
  } else if (d.network === 'bridged') {
    body['net-bridged'] = d.bridged.trim();
  }
  body.headless = d.headless;
  body.nested = d.nested;
  body.suspendable = d.suspendable;
  // Opt-ins, sent only when chosen (as the CLI's flags).
  for (const key of ['randomSerial', 'audio', 'clipboard'] as const) {
    if (d[key]) {
      body[key] = true;
    }
  }
  body.restart_policy = d.restartPolicy;
  if (d.username.trim() !== '') {
    body.username = d.username.trim();
  }
  if (d.password !== '') {
    body.password = d.password;
  }
  const labels = forField('labels', () => parsePairs('Labels', d.labels));
  if (Object.keys(labels).length > 0) {
    body.labels = labels;
  }
  const resources = forField('resources', () => parsePairs('Resources', d.resources));
  if (Object.keys(resources).length > 0) {
    body.resources = Object.fromEntries(
      Object.entries(resources).map(([k, v]) => {
        const n = forField('resources', () => int(`Resources ${k}`, v));
        if (n === undefined) {
          throw new FieldError('resources', `Resources: ${k} needs an amount`);
        }
        return [k, n];
      }),
    );
  }
  const dirs = d.hostDirs
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (dirs.length > 0) {
    body.hostDirs = dirs.map((text) => {
      const ro = text.endsWith(':ro');
      const spec = ro ? text.slice(0, -3) : text;
      const idx = spec.indexOf(':');
      if (idx <= 0 || idx === spec.length - 1) {
        throw new FieldError('hostDirs', `Host directories: "${text}" is not NAME:PATH[:ro]`);
      }
      return { name: spec.slice(0, idx), path: spec.slice(idx + 1), ro };
    });
  }
  if (d.startupScript.trim() !== '') {
    body.startup_script = { script_content: d.startupScript };
  }
  return body;
}
