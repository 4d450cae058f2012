/**
 * A stand-in for the `tart` CLI (Tart 2.35.0 as described in /work/shared/reference/tart.md), so the worker's Tart
 * runtime can be tested on Linux. It keeps Tart's on-disk layout under TART_HOME, its texts, exit codes and signals, and
 * serves the Tart Guest Agent protocol (libs/proto/proto/tart/agent.proto) on `vms/<name>/control.sock`, running
 * `exec`'d commands on the host. See README.md next to this file for what is and is not emulated.
 *
 * Environment (Tart's own): TART_HOME (default ~/.tart, created), CI (progress as plain lines), TART_NO_AUTO_PRUNE
 * (accepted; the stand-in never prunes).
 *
 * Fault-injection and tuning knobs (all optional; invalid values make every command fail with exit 1):
 *   TART_STANDIN_VERSION                 `tart --version` output (semver), default 2.35.0.
 *   TART_STANDIN_REGISTRY                image catalogue: a JSON file path or inline JSON (see registry.ts); unknown
 *                                        images fail like a registry 404. Default: a small built-in catalogue on the
 *                                        fictitious host registry.grove.test.
 *   TART_STANDIN_PULL_FAILURE            404 | 401 | 403 (not retried, exit 1) | network (URLError, retried 5× then
 *                                        exit 1) | network:N (the first N attempts fail, then the pull succeeds).
 *   TART_STANDIN_PULL_DELAY_MS           how long the disk download of a pull takes (default 0).
 *   TART_STANDIN_CLONE_DELAY_MS          extra time a clone's copy takes (default 0).
 *   TART_STANDIN_CLONE_DISK_FULL=1       clone fails with an out-of-space NSError, exit 1.
 *   TART_STANDIN_BOOT_DELAY_MS           from `run` start to DHCP lease and agent availability (default 200).
 *   TART_STANDIN_NO_IP=1                 the guest never gets an address (ip fails; ResolveIP errors).
 *   TART_STANDIN_FORCE_IP=a.b.c.d        lease this address whatever the pool says (duplicate-IP scenarios).
 *   TART_STANDIN_LEASE_SECONDS           lease duration (default 86400, bootpd's); 1 makes leases go stale quickly.
 *   TART_STANDIN_LEASES=<file>           the lease table (bootpd format), default $TART_HOME/standin/dhcpd_leases.
 *   TART_STANDIN_AGENT=absent            no guest agent: control.sock closes every connection.
 *   TART_STANDIN_AGENT_DELAY_MS          the agent answers ResolveIP after this delay (default 0).
 *   TART_STANDIN_VM_LIMIT                concurrently running macOS VMs allowed (default 2; 0 = a "stuck" limit).
 *   TART_STANDIN_GUEST_STOP_AFTER_MS     `run` exits 0 with `guest has stopped the virtual machine` after this long.
 *   TART_STANDIN_START_FAILURE=1|<text>  `run` fails to start: a VZErrorDomain line (or <text>) on stderr, exit 1.
 *   TART_STANDIN_SUSPEND_FAILURE=1|<why> `tart suspend` of a --suspendable VM fails (`Failed to suspend the VM: …`).
 *   TART_STANDIN_SOFTNET_FAILURE=1       `run --net-softnet…` dies after boot with Softnet's RuntimeFailed, exit 1.
 *   TART_STANDIN_BRIDGE_INTERFACES       interfaces `--net-bridged` accepts, comma-separated (default en0).
 *   TART_STANDIN_EXEC_CONNECT_TIMEOUT_MS how long `exec` tries to reach the agent before failing (default 2000).
 *   TART_STANDIN_IP_POLL_MS              interval of `ip --wait` attempts (default 1000, as Tart).
 */
import { type CommandSpec, helpText, parseArgs, usageText } from './args';
import type { Command, Context } from './context';
import { ip, exec, stop, suspend } from './control-commands';
import { ForeignError, TartRuntimeError, UsageError } from './errors';
import { clone, pull } from './image-commands';
import { loadKnobs } from './knobs';
import { complain, exitAfterFlush, say } from './output';
import { run } from './run';
import { TartHome } from './storage';
import { create, del, fqn, get, list, rename, set } from './vm-commands';
import { rmSync } from 'node:fs';

const COMMANDS: Command[] = [create, clone, run, set, get, list, ip, exec, pull, rename, stop, del, fqn, suspend];

/** Real subcommands the stand-in does not emulate. */
const NOT_EMULATED = ['login', 'logout', 'push', 'import', 'export', 'prune'];

const ROOT_USAGE = `OVERVIEW: Stand-in for Tart, the macOS and Linux VM manager (Grove test double)

USAGE: tart <subcommand>

SUBCOMMANDS:
  ${[...COMMANDS.map((c) => c.spec.name).filter((n) => n !== 'fqn'), ...NOT_EMULATED].join(', ')}
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version') {
    say(loadKnobs().version);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    say(ROOT_USAGE);
    return 0;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    if (NOT_EMULATED.includes(name)) {
      throw new ForeignError(`"tart ${name}" is not emulated by Grove's tart stand-in`);
    }
    complain(
      `Error: Unexpected argument '${name}'\nUsage: tart <subcommand>\n  See 'tart --help' for more information.`,
    );
    return 64;
  }
  return runCommand(command, rest);
}

async function runCommand(command: Command, argv: string[]): Promise<number> {
  const spec: CommandSpec = command.spec;
  try {
    const args = parseArgs(spec, argv);
    if (args.help) {
      say(helpText(spec));
      return 0;
    }
    const knobs = loadKnobs();
    const home = new TartHome(knobs.tartHome);
    home.init();
    const ctx: Context = { home, knobs, tmpDirs: new Set() };
    if (!command.skipGc) {
      try {
        home.collectGarbage();
      } catch (err) {
        complain(`Failed to perform garbage collection: ${(err as Error).message}`);
      }
    }
    if (!command.ownsSigint) {
      // Tart cancels the running task on SIGINT; clone/pull drop their temporary directory (tart.md §1.1).
      process.on('SIGINT', () => {
        for (const dir of ctx.tmpDirs) {
          rmSync(dir, { recursive: true, force: true });
        }
        complain('Error: CancellationError()');
        void exitAfterFlush(1);
      });
    }
    return await command.run(ctx, args);
  } catch (err) {
    if (err instanceof UsageError) {
      complain(`Error: ${err.message}\n${usageText(spec)}`);
      return 64;
    }
    if (err instanceof TartRuntimeError) {
      complain(err.message);
      return err.exitCode;
    }
    complain(`Error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (err: unknown) => {
    // Errors outside a subcommand (e.g. invalid knobs for --version) still follow Tart's shapes.
    complain(err instanceof TartRuntimeError ? err.message : `Error: ${(err as Error).message}`);
    return exitAfterFlush(err instanceof TartRuntimeError ? err.exitCode : 1);
  },
);
