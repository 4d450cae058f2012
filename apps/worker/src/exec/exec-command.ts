import { constants } from 'node:os';
import { shellQuote } from '@grove/proto';

/** What a command runs with besides its argv. */
export interface ExecOptions {
  env: Record<string, string>;
  workdir: string;
}

/** Words the shell takes literally, which need no quotes (kept bare so that logs and `ps` stay readable). */
const PLAIN_WORD = /^[A-Za-z0-9_./:=@%+,-]+$/;

/** One shell command line that runs `argv` as it is, without any shell expansion. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((word) => (PLAIN_WORD.test(word) ? word : shellQuote(word))).join(' ');
}

/**
 * Orchard's remote command with options (orchard.md §1.5, `sshexec.CommandWithOptions`): `cd '<workdir>' || exit $?`,
 * then `export KEY='value'` for each variable in sorted order, each on its own line, then the command. Without options
 * the command is left as it is.
 */
export function withOptions(command: string, { env, workdir }: ExecOptions): string {
  const lines: string[] = [];
  if (workdir !== '') {
    lines.push(`cd ${shellQuote(workdir)} || exit $?`);
  }
  for (const key of Object.keys(env).sort()) {
    lines.push(`export ${key}=${shellQuote(env[key])}`);
  }
  return lines.length === 0 ? command : `${lines.join('\n')}\n${command}`;
}

/**
 * The program and arguments to ask a guest agent for. Agents up to v0.9 ignore the `env` and `workdir` fields of the
 * command (tart.md §4.2, fields 7–8 are newer) without saying so, so a command with either runs through `/bin/sh -c`,
 * which changes directory and exports the variables in Orchard's form and then execs the argv given as the shell's
 * positional parameters — no quoting of the argv, and the same behaviour on every agent.
 */
export function agentCommand(argv: readonly string[], options: ExecOptions): { name: string; args: string[] } {
  const [name = '', ...args] = argv;
  if (options.workdir === '' && Object.keys(options.env).length === 0) {
    return { name, args };
  }
  return { name: '/bin/sh', args: ['-c', withOptions('exec "$@"', options), 'sh', ...argv] };
}

/** The exit status of a command killed by a signal, as a shell reports it: 128 + its number (255 when unknown). */
export function signalExitCode(signal: string): number {
  const name = `SIG${signal.replace(/^SIG/, '')}` as keyof typeof constants.signals;
  const number = constants.signals[name] as number | undefined;
  return number === undefined ? 255 : 128 + number;
}
