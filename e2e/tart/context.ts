import type { CommandSpec, ParsedArgs } from './args';
import type { Knobs } from './knobs';
import type { TartHome } from './storage';

/** What every subcommand gets. */
export interface Context {
  home: TartHome;
  knobs: Knobs;
  /** Temporary directories to remove if the command is interrupted (SIGINT → `Error: CancellationError()`). */
  tmpDirs: Set<string>;
}

export interface Command {
  spec: CommandSpec;
  /** `pull` and `clone` skip the tmp garbage collection every other command does first (tart.md §1.1). */
  skipGc?: boolean;
  /** `run` handles SIGINT itself; every other command is cancelled by it. */
  ownsSigint?: boolean;
  /** Resolves with the exit code. */
  run(ctx: Context, args: ParsedArgs): Promise<number>;
}
