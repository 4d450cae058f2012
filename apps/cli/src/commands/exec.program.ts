import { type Command, Option } from 'commander';
import type { CommandIo } from './io';
import {
  allOptions,
  collect,
  commands,
  CONNECT_GROUP,
  examples,
  nonNegativeInteger,
  optionsAfterName,
  type ProgramState,
} from './program-helpers';

/** `grove exec vm`; its handler is exec.commands.ts. */
export function addExecCommand(program: Command, io: CommandIo, state: ProgramState): void {
  // Positional options, as for `ssh vm`: see needsPositionalOptions (program.ts) and optionsAfterName.
  const exec = program
    .command('exec')
    .description('run a program in a VM through the controller (no SSH client needed)')
    .helpGroup(CONNECT_GROUP)
    .enablePositionalOptions();
  exec
    .command('vm')
    .description(
      "run a program in a VM with the controller's exec API and exit with its exit code; with --session, in a " +
        'session that survives disconnects and can be reattached to',
    )
    .argument('<name>', 'VM name')
    .argument('[command...]', 'program and arguments, each word passed as is (no shell: use sh -c for one)')
    .option('-i, --interactive', 'send standard input to the program (its end closes the remote stdin)')
    .option('-t, --tty', 'run on a pseudo-terminal of the local window size (24x80 without a terminal)')
    .option(
      '-e, --env <name=value>',
      'set an environment variable (repeatable); -e NAME passes the local value',
      collect,
    )
    .option('-w, --workdir <dir>', 'working directory of the program')
    .option('--session <id>', 'run in (or, without a program, reattach to) the reconnectable session with this id')
    .option('--wait <seconds>', 'how long to wait for the VM to run and the program to start', nonNegativeInteger, 60)
    .addOption(new Option('--context <name>', 'the program option, also accepted here').hideHelp())
    .passThroughOptions()
    .addHelpText(
      'after',
      examples(
        "grove exec vm v1 -- sh -c 'echo out; echo err >&2; exit 7'  # out, err (on stderr), exit code 7",
        'grove exec vm v1 -- uname -a',
        'grove exec vm v1 -i -- sh -s < setup.sh                    # run a local script',
        'tar -cz src | grove exec vm v1 -i -w /tmp -- tar -xzf -    # copy a directory in',
        'grove exec vm v1 -it -- zsh                                # an interactive shell',
        'grove exec vm v1 -e GREETING=hello -e HOME -w /tmp -- env',
        'grove exec vm v1 --session build -- make -C /src           # Ctrl-C detaches, make goes on',
        'grove exec vm v1 --session build                           # reattach: the missed output, then live',
      ) +
        '\nThe words after "--" are the program and its arguments, exactly as given: "grove exec vm v1 -- ls -l"\n' +
        'runs ls with -l, and "grove exec vm v1 -- \'ls -l | wc -l\'" looks for a program with that whole name\n' +
        "(docker exec, kubectl exec and tart exec do the same); pipes and redirections need sh -c '...'. Options\n" +
        'go before "--" (or before the first word of the program).\n' +
        "\nExit code: the program's (0-255); 255 when it could not be started or its end is unknown (the controller\n" +
        'refused the request or reported an error, or the connection broke); 130 after Ctrl-C; 2 for a bad command\n' +
        'line.\n' +
        '\nCtrl-C: without --session it closes the connection, and the controller stops the program. With --session\n' +
        'it detaches: the program keeps running, and "grove exec vm NAME --session ID" later shows what it missed\n' +
        'and what follows. With -it the terminal is raw and Ctrl-C goes to the program; Ctrl-P Ctrl-Q detaches from\n' +
        'a session. -t without -i gives the program a PTY but leaves the keyboard alone, as docker exec -t does.\n' +
        'A session whose connection drops is reconnected to a few times, without repeating output; a finished\n' +
        'session is removed once this command has shown its end. See docs/cli-exec.md.\n',
    )
    .action(async (name: string, words: string[], _options: unknown, command: Command) => {
      const remote = optionsAfterName(command, words);
      state.exitCode = await commands.exec().execVm(io, name, remote, allOptions(command));
    });
}
