import { UsageError } from './errors';

/** One option or flag of a subcommand, as Swift ArgumentParser would declare it. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `cpu`. */
  long: string;
  /** Single-letter short name, e.g. `q`. */
  short?: string;
  /** `flag` takes no value; `value` takes one (`--opt v` or `--opt=v`). */
  kind: 'flag' | 'value';
  /** Shown in messages: `--cpu <cpu>`. Defaults to the long name. */
  valueName?: string;
  /** Allowed values (a Swift enum). */
  choices?: readonly string[];
  /** The value must be a non-negative integer (UInt16 and friends). */
  integer?: boolean;
  repeatable?: boolean;
}

export interface CommandSpec {
  name: string;
  /** The part of the usage line after `tart <name> `. */
  usage: string;
  abstract: string;
  options: readonly OptionSpec[];
  /** Positional arguments in order; the last may be variadic. */
  positionals: readonly { name: string; optional?: boolean; variadic?: boolean }[];
  /** Everything after the first positional is passed through verbatim (`tart exec <name> <command>…`). */
  passthroughAfterFirst?: boolean;
}

export interface ParsedArgs {
  /** Values per long option name; flags map to `['']` per occurrence. */
  options: Map<string, string[]>;
  positionals: string[];
  passthrough: string[];
  help: boolean;
}

function display(option: OptionSpec): string {
  return option.kind === 'flag' ? `--${option.long}` : `--${option.long} <${option.valueName ?? option.long}>`;
}

/**
 * Parses argv the way ArgumentParser does for Tart's commands: `--opt value` and `--opt=value`, options before, between
 * or after positionals, combined short flags (`-it`), `--` ending options. Errors are UsageErrors (exit 64).
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options = new Map<string, string[]>();
  const positionals: string[] = [];
  const passthrough: string[] = [];
  let help = false;
  let onlyPositionals = false;

  const add = (option: OptionSpec, value: string): void => {
    if (option.choices && !option.choices.includes(value)) {
      throw new UsageError(`The value '${value}' is invalid for '${display(option)}'`);
    }
    if (option.integer && !/^\d+$/.test(value)) {
      throw new UsageError(`The value '${value}' is invalid for '${display(option)}'`);
    }
    const values = options.get(option.long) ?? [];
    if (!option.repeatable && values.length > 0) {
      values.length = 0; // the last occurrence wins, as in ArgumentParser
    }
    values.push(value);
    options.set(option.long, values);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (spec.passthroughAfterFirst && positionals.length >= 1) {
      passthrough.push(...argv.slice(i));
      break;
    }
    if (onlyPositionals || arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const option = spec.options.find((o) => o.long === name);
      if (!option) {
        throw new UsageError(`Unknown option '--${name}'`);
      }
      if (option.kind === 'flag') {
        if (eq !== -1) {
          throw new UsageError(`Unknown option '${arg}'`);
        }
        add(option, '');
        continue;
      }
      if (eq !== -1) {
        add(option, arg.slice(eq + 1));
        continue;
      }
      const value = argv[i + 1];
      if (value === undefined || (value.startsWith('-') && value !== '-' && !/^-\d/.test(value))) {
        throw new UsageError(`Missing value for '${display(option)}'`);
      }
      add(option, value);
      i++;
      continue;
    }
    // Short options: `-q`, `-t 5`, `-t=5`, combined flags `-it`.
    const letters = arg.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const option = spec.options.find((o) => o.short === letters[j]);
      if (!option) {
        throw new UsageError(`Unknown option '-${letters[j]}'`);
      }
      if (option.kind === 'flag') {
        add(option, '');
        continue;
      }
      const inline = letters.slice(j + 1).replace(/^=/, '');
      if (inline !== '') {
        add(option, inline);
      } else {
        const value = argv[i + 1];
        if (value === undefined || (value.startsWith('-') && !/^-\d/.test(value))) {
          throw new UsageError(`Missing value for '-${option.short} <${option.valueName ?? option.long}>'`);
        }
        add(option, value);
        i++;
      }
      break;
    }
  }

  if (help) {
    return { options, positionals, passthrough, help };
  }
  const variadic = spec.positionals.at(-1)?.variadic === true;
  const required = spec.positionals.filter((p) => !p.optional);
  if (positionals.length < required.length) {
    throw new UsageError(`Missing expected argument '<${required[positionals.length].name}>'`);
  }
  if (!variadic && positionals.length > spec.positionals.length) {
    throw new UsageError(`Unexpected argument '${positionals[spec.positionals.length]}'`);
  }
  if (spec.passthroughAfterFirst && passthrough.length === 0) {
    throw new UsageError(`Missing expected argument '<${spec.positionals[1]?.name ?? 'command'}> ...'`);
  }
  return { options, positionals, passthrough, help };
}

/** Accessors over ParsedArgs. */
export function flag(args: ParsedArgs, long: string): boolean {
  return (args.options.get(long)?.length ?? 0) > 0;
}

export function value(args: ParsedArgs, long: string): string | undefined {
  return args.options.get(long)?.at(-1);
}

export function values(args: ParsedArgs, long: string): string[] {
  return args.options.get(long) ?? [];
}

export function intValue(args: ParsedArgs, long: string): number | undefined {
  const raw = value(args, long);
  return raw === undefined ? undefined : Number(raw);
}

export function usageText(spec: CommandSpec): string {
  return `Usage: tart ${spec.name} ${spec.usage}\n  See 'tart ${spec.name} --help' for more information.`;
}

export function helpText(spec: CommandSpec): string {
  return `OVERVIEW: ${spec.abstract}\n\nUSAGE: tart ${spec.name} ${spec.usage}\n`;
}
