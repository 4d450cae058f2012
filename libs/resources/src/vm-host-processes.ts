import type { FieldError } from './errors';
import { validateName } from './names';
import type { HostProcess } from './vm';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks VM `hostProcesses` (orchard-2026.md §1.2.3): each name a valid simple name declared once, `program` not
 * empty, `args` strings, `env` names a shell could export. Each error names the item and field
 * (`hostProcesses[1].program`).
 */
export function validateHostProcesses(processes: readonly HostProcess[]): FieldError[] {
  const errors: FieldError[] = [];
  const names = new Set<string>();
  processes.forEach((process, i) => {
    const at = `hostProcesses[${i}]`;
    const nameError = validateName(`${at}.name`, process.name);
    if (nameError) {
      errors.push(nameError);
    } else if (names.has(process.name)) {
      errors.push({ field: `${at}.name`, message: `host process "${process.name}" is declared more than once` });
    }
    names.add(process.name);
    if (typeof process.program !== 'string' || process.program.trim() === '') {
      errors.push({ field: `${at}.program`, message: 'must not be empty' });
    }
    (process.args ?? []).forEach((arg, j) => {
      if (typeof arg !== 'string') {
        errors.push({ field: `${at}.args[${j}]`, message: 'must be a string' });
      }
    });
    for (const [key, value] of Object.entries(process.env ?? {})) {
      if (!ENV_NAME.test(key)) {
        errors.push({ field: `${at}.env.${key}`, message: 'is not a valid environment variable name' });
      } else if (typeof value !== 'string') {
        errors.push({ field: `${at}.env.${key}`, message: 'must be a string' });
      }
    }
  });
  return errors;
}

/**
 * A copy with only the declared fields, `args` and `env` left out when empty and `env` in key order, as Orchard's JSON
 * encoder writes maps (the stored and served form).
 */
export function copyHostProcesses(processes: readonly HostProcess[]): HostProcess[] {
  return processes.map((p) => ({
    name: p.name,
    program: p.program,
    ...(p.args && p.args.length > 0 ? { args: [...p.args] } : {}),
    ...(p.env && Object.keys(p.env).length > 0
      ? { env: Object.fromEntries(Object.entries(p.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) }
      : {}),
  }));
}

/** Two host-process lists alike, in order (absent and empty are alike; so are no `args` and `[]`). */
export function sameHostProcesses(
  a: readonly HostProcess[] | undefined,
  b: readonly HostProcess[] | undefined,
): boolean {
  return JSON.stringify(copyHostProcesses(a ?? [])) === JSON.stringify(copyHostProcesses(b ?? []));
}

/** The host process of a VM with this name, if it declares one. */
export function findHostProcess(vm: { hostProcesses?: readonly HostProcess[] }, name: string): HostProcess | undefined {
  return vm.hostProcesses?.find((p) => p.name === name);
}
