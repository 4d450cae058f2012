import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

/** How a command run by the installer ended. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Everything `grove worker install`/`uninstall` needs from the machine beyond plain file access, gathered so that
 * tests can run the real handler without root, launchctl or systemctl.
 */
export interface InstallSystem {
  platform: NodeJS.Platform;
  isRoot: boolean;
  /**
   * Prefixed to every path the installer writes, reads or removes: `/` on a real machine, a scratch directory in
   * tests. The generated files still name the real paths.
   */
  root: string;
  /** The node binary the service runs. */
  nodePath: string;
  /** The CLI entry script the service runs with `worker run`. */
  cliEntry: string;
  /** Runs a command without a shell and collects its output; never rejects for a non-zero exit. */
  run(argv: readonly string[]): Promise<CommandResult>;
  /** All of standard input (for --bootstrap-token-stdin). */
  readStdin(): Promise<string>;
}

function runCommand(argv: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => resolve({ code: 127, stdout, stderr: `${stderr}${err.message}` }));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The entry script of this CLI: `dist/main.js`, beside the `dist/install` directory this file is compiled into.
 * Resolved through symbolic links so the service keeps working when the `grove` on PATH is a link (npm's bin).
 */
export function cliEntryScript(): string {
  const main = join(__dirname, '..', 'main.js');
  return existsSync(main) ? realpathSync(main) : main;
}

/** This machine, as the installer sees it. */
export function localInstallSystem(): InstallSystem {
  return {
    platform: process.platform,
    isRoot: process.getuid?.() === 0,
    root: '/',
    nodePath: process.execPath,
    cliEntry: cliEntryScript(),
    run: runCommand,
    readStdin: readAllStdin,
  };
}
