import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { decodeBootstrapToken, parseLabels, parseResources } from '@grove/resources';
import { CliError, UsageError } from '../cli.errors';
import { normalizeControllerUrl } from '../controller-url';
import { localInstallSystem, type InstallSystem } from '../install/install-system';
import {
  bootstrapTokenFile,
  DEFAULT_LOG_FILE,
  LAUNCHD_LABEL,
  serviceBootstrapTokenPath,
  serviceCommands,
  serviceDefinitionFile,
  serviceDefinitionPath,
  serviceGroveHome,
  SYSTEMD_UNIT_NAME,
  type ServiceFile,
  type ServicePlatform,
  type WorkerServiceOptions,
} from '../install/service-files';
import type { CommandIo } from './io';

export interface WorkerInstallOptions {
  bootstrapToken?: string;
  bootstrapTokenStdin?: boolean;
  bootstrapTokenFile?: string;
  name?: string;
  labels?: string[];
  resources?: string[];
  defaultCpu?: number;
  defaultMemory?: number;
  runtime?: 'tart' | 'synthetic';
  dataDir?: string;
  logFile?: string;
  endpointAddress?: string;
  /** False with `--no-host-processes`. */
  hostProcesses?: boolean;
  /** `HOST:PORT` of `/healthz` and `/metrics`, or `off`. */
  listenMetrics?: string;
  user?: string;
  dryRun?: boolean;
}

export interface WorkerUninstallOptions {
  dryRun?: boolean;
}

/** What the worker accepts as `--listen-metrics` (apps/worker's parseMetricsListen): `off`, or an IP address and port. */
function validListenMetrics(text: string): boolean {
  if (text === 'off') {
    return true;
  }
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  return host !== undefined && isIP(host) !== 0 && Number(match![3]) <= 65535;
}

function servicePlatform(system: InstallSystem): ServicePlatform {
  if (system.platform === 'darwin' || system.platform === 'linux') {
    return system.platform;
  }
  throw new CliError(
    `the worker service can be installed on macOS (launchd) and Linux (systemd), not on ${system.platform}; ` +
      'run "grove worker run" under your own service manager instead',
  );
}

function requireRoot(system: InstallSystem, verb: 'install' | 'uninstall', dryRun: boolean | undefined): void {
  if (!dryRun && !system.isRoot) {
    throw new CliError(
      `${verb}ing the worker service changes system files and needs root: run it again with sudo ` +
        `("sudo grove worker ${verb} …"), or add --dry-run to only print what it would do`,
    );
  }
}

/** The token from exactly one source, checked to be a bootstrap token so that a typo fails now, not in the log. */
async function readBootstrapToken(
  options: WorkerInstallOptions,
  system: InstallSystem,
): Promise<{ text: string; serviceAccountName: string }> {
  const given = [
    options.bootstrapToken !== undefined,
    options.bootstrapTokenStdin === true,
    options.bootstrapTokenFile !== undefined,
  ].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(
      'give the bootstrap token with exactly one of --bootstrap-token, --bootstrap-token-stdin or --bootstrap-token-file',
    );
  }
  let text: string;
  if (options.bootstrapTokenFile !== undefined) {
    try {
      text = readFileSync(options.bootstrapTokenFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the bootstrap token file: ${(err as Error).message}`, { cause: err });
    }
  } else if (options.bootstrapTokenStdin) {
    text = await system.readStdin();
  } else {
    text = options.bootstrapToken ?? '';
  }
  text = text.trim();
  try {
    return { text, serviceAccountName: decodeBootstrapToken(text).serviceAccountName };
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (get one with "grove get bootstrap-token SERVICE_ACCOUNT")`);
  }
}

/** Generator errors are about what was typed (a relative path, a comma in a label, a bad user name). */
function asUsageError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CliError) {
      throw err;
    }
    throw new UsageError((err as Error).message);
  }
}

interface InstallPlan {
  platform: ServicePlatform;
  definition: ServiceFile;
  token: ServiceFile;
  serviceAccountName: string;
  groveHome: string;
  /** Directories the worker writes to: created, and given to `--user`. */
  directories: string[];
  /** Log files that must exist before the service starts (launchd opens them as the service user). */
  logFiles: string[];
  user?: string;
}

async function planInstall(
  rawUrl: string,
  options: WorkerInstallOptions,
  system: InstallSystem,
  platform: ServicePlatform,
): Promise<InstallPlan> {
  const controllerUrl = normalizeControllerUrl(rawUrl);
  const { labels, resources } = asUsageError(() => ({
    labels: parseLabels(options.labels ?? []),
    resources: parseResources(options.resources ?? []),
  }));
  // Checked here rather than by a service that would then fail at every start.
  if (options.endpointAddress !== undefined && isIP(options.endpointAddress) === 0) {
    throw new UsageError(`--endpoint-address "${options.endpointAddress}" must be an IP address of this host`);
  }
  const listenMetrics = options.listenMetrics === '' ? 'off' : options.listenMetrics;
  if (listenMetrics !== undefined && !validListenMetrics(listenMetrics)) {
    throw new UsageError(
      `--listen-metrics "${listenMetrics}" must be IP:PORT (e.g. 127.0.0.1:6130 or 0.0.0.0:6130) or off`,
    );
  }
  const groveHome = serviceGroveHome(platform);
  // The service runs with `/` as its working directory: relative paths are taken from here, now.
  const dataDir = options.dataDir !== undefined ? resolve(options.dataDir) : undefined;
  const logFile = options.logFile !== undefined ? resolve(options.logFile) : undefined;
  const serviceOptions: WorkerServiceOptions = {
    nodePath: system.nodePath,
    cliEntry: system.cliEntry,
    controllerUrl,
    bootstrapTokenFile: serviceBootstrapTokenPath(platform),
    groveHome,
    ...(options.name !== undefined ? { name: options.name } : {}),
    labels,
    resources,
    ...(options.runtime !== undefined ? { runtime: options.runtime } : {}),
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(options.defaultCpu !== undefined ? { defaultCpu: options.defaultCpu } : {}),
    ...(options.defaultMemory !== undefined ? { defaultMemory: options.defaultMemory } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.endpointAddress !== undefined ? { endpointAddress: options.endpointAddress } : {}),
    ...(options.hostProcesses === false ? { noHostProcesses: true } : {}),
    ...(listenMetrics !== undefined ? { listenMetrics } : {}),
    // launchd has no journal: stdout and stderr go to the log file. systemd's journal keeps them, so there the file
    // is the worker's own --log-file.
    ...(logFile !== undefined ? (platform === 'darwin' ? { logFile } : { jsonLogFile: logFile }) : {}),
  };
  const definition = asUsageError(() => serviceDefinitionFile(platform, serviceOptions));
  const token = await readBootstrapToken(options, system);
  const logFiles = platform === 'darwin' ? [logFile ?? DEFAULT_LOG_FILE] : logFile !== undefined ? [logFile] : [];
  return {
    platform,
    definition,
    token: asUsageError(() => bootstrapTokenFile(serviceOptions.bootstrapTokenFile, token.text)),
    serviceAccountName: token.serviceAccountName,
    groveHome,
    directories: [groveHome, ...(dataDir !== undefined ? [dataDir] : [])],
    logFiles,
    ...(options.user !== undefined ? { user: options.user } : {}),
  };
}

/** An argv as one could paste it into a shell. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map((arg) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function mode(file: ServiceFile): string {
  return `0${file.mode.toString(8)}`;
}

/** What the service manager and the user need to know after an install, per platform. */
function serviceNotes(platform: ServicePlatform): string {
  switch (platform) {
    case 'darwin':
      return `Check it with: sudo launchctl print system/${LAUNCHD_LABEL}\n`;
    case 'linux':
      return `Check it with: systemctl status ${SYSTEMD_UNIT_NAME}; logs: journalctl -u ${SYSTEMD_UNIT_NAME} -f\n`;
  }
}

function printDryRun(io: CommandIo, plan: InstallPlan, replacing: boolean): void {
  const commands = serviceCommands(plan.platform);
  const owner = plan.user !== undefined ? `, owned by ${plan.user}` : '';
  let text = '';
  if (replacing) {
    text += `# A worker service is installed already; it would first be stopped with:\n`;
    text += commands.uninstall.map((c) => `${shellCommand(c)}\n`).join('');
    text += '\n';
  }
  text += `# Would create directories${owner}: ${plan.directories.join(', ')}\n`;
  if (plan.logFiles.length > 0) {
    text += `# Would create log files${owner}: ${plan.logFiles.join(', ')}\n`;
  }
  text += `\n# Would write ${plan.token.path} (mode ${mode(plan.token)}${owner}):\n`;
  text += `<the bootstrap token of service account "${plan.serviceAccountName}">\n`;
  text += `\n# Would write ${plan.definition.path} (mode ${mode(plan.definition)}):\n${plan.definition.contents}`;
  text += `\n# Would run:\n${commands.install.map((c) => `${shellCommand(c)}\n`).join('')}`;
  io.out(text);
}

/** Runs commands in order; with `lenient`, failures are tolerated and reported as `false`. */
async function runCommands(system: InstallSystem, commands: string[][], lenient: boolean): Promise<boolean> {
  let allSucceeded = true;
  for (const argv of commands) {
    const result = await system.run(argv);
    if (result.code !== 0) {
      if (!lenient) {
        const output = (result.stderr.trim() || result.stdout.trim()).split('\n')[0] ?? '';
        throw new CliError(
          `"${shellCommand(argv)}" failed with exit code ${result.code}${output !== '' ? `: ${output}` : ''}`,
        );
      }
      allSucceeded = false;
    }
  }
  return allSucceeded;
}

async function lookupUser(system: InstallSystem, user: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([system.run(['id', '-u', user]), system.run(['id', '-g', user])]);
  if (uid.code !== 0 || gid.code !== 0 || !/^\d+$/.test(uid.stdout.trim()) || !/^\d+$/.test(gid.stdout.trim())) {
    throw new CliError(`there is no user "${user}" on this machine (--user)`);
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * `grove worker install`: writes the bootstrap token to an owner-only file and a launchd daemon (macOS) or systemd
 * unit (Linux) that runs `worker run` with `--bootstrap-token-file`, then registers and starts it. Installing again
 * replaces the service. `system` is the machine; tests pass a scratch root and a fake command runner.
 */
export async function workerInstall(
  io: CommandIo,
  url: string,
  options: WorkerInstallOptions,
  system: InstallSystem = localInstallSystem(),
): Promise<void> {
  const platform = servicePlatform(system);
  requireRoot(system, 'install', options.dryRun);
  const plan = await planInstall(url, options, system, platform);
  const at = (path: string): string => join(system.root, path);
  const replacing = existsSync(at(plan.definition.path));
  if (options.dryRun) {
    printDryRun(io, plan, replacing);
    return;
  }
  for (const [what, path] of [
    ['node binary', system.nodePath],
    ['CLI entry script', system.cliEntry],
  ]) {
    if (!existsSync(path)) {
      throw new CliError(`the ${what} ${path} does not exist; run the installed grove, not a development copy`);
    }
  }
  const owner = plan.user !== undefined ? await lookupUser(system, plan.user) : undefined;
  const chown = (path: string): void => {
    if (owner) {
      chownSync(path, owner.uid, owner.gid);
    }
  };
  if (replacing) {
    io.out('Replacing the installed worker service.\n');
    await runCommands(system, serviceCommands(platform).uninstall, true);
  }
  for (const dir of plan.directories) {
    mkdirSync(at(dir), { recursive: true, mode: 0o755 });
    chown(at(dir));
  }
  for (const file of plan.logFiles) {
    mkdirSync(dirname(at(file)), { recursive: true, mode: 0o755 });
    writeFileSync(at(file), '', { flag: 'a', mode: 0o644 });
    chown(at(file));
  }
  // Removed first so that an older, more permissive file cannot keep its mode while the token is written into it.
  rmSync(at(plan.token.path), { force: true });
  writeFileSync(at(plan.token.path), plan.token.contents, { mode: plan.token.mode });
  chmodSync(at(plan.token.path), plan.token.mode);
  chown(at(plan.token.path));
  mkdirSync(dirname(at(plan.definition.path)), { recursive: true, mode: 0o755 });
  writeFileSync(at(plan.definition.path), plan.definition.contents, { mode: plan.definition.mode });
  chmodSync(at(plan.definition.path), plan.definition.mode);
  await runCommands(system, serviceCommands(platform).install, false);
  const runAs = plan.user !== undefined ? `user ${plan.user}` : 'root';
  io.out(
    `Installed and started the worker service (as ${runAs}, service account "${plan.serviceAccountName}").\n` +
      `  service definition: ${plan.definition.path}\n` +
      `  bootstrap token:    ${plan.token.path} (mode ${mode(plan.token)})\n` +
      (plan.logFiles.length > 0 ? `  log file:           ${plan.logFiles.join(', ')}\n` : '') +
      serviceNotes(platform),
  );
}

/**
 * `grove worker uninstall`: stops and unregisters the service and removes its definition and token file. Safe to
 * repeat: what is already gone is skipped. The worker's state in its GROVE_HOME is kept.
 */
export async function workerUninstall(
  io: CommandIo,
  options: WorkerUninstallOptions,
  system: InstallSystem = localInstallSystem(),
): Promise<void> {
  const platform = servicePlatform(system);
  requireRoot(system, 'uninstall', options.dryRun);
  const at = (path: string): string => join(system.root, path);
  const commands = serviceCommands(platform);
  const definition = serviceDefinitionPath(platform);
  const present = [definition, serviceBootstrapTokenPath(platform)].filter((path) => existsSync(at(path)));
  const afterRemoval = present.includes(definition) ? commands.afterRemoval : [];
  if (options.dryRun) {
    io.out(
      `# Would run (a failure only means the service is not loaded):\n` +
        commands.uninstall.map((c) => `${shellCommand(c)}\n`).join('') +
        (present.length > 0
          ? `# Would remove: ${present.join(', ')}\n`
          : '# Nothing to remove: no service definition or token file is installed.\n') +
        afterRemoval.map((c) => `${shellCommand(c)}\n`).join(''),
    );
    return;
  }
  const stopped = await runCommands(system, commands.uninstall, true);
  for (const path of present) {
    rmSync(at(path), { force: true });
  }
  await runCommands(system, afterRemoval, true);
  if (!stopped && present.length === 0) {
    io.out('The worker service is not installed: nothing to do.\n');
    return;
  }
  let text = stopped ? `Stopped and unregistered the worker service (${shellCommand(commands.uninstall[0])}).\n` : '';
  text += present.map((path) => `Removed ${path}\n`).join('');
  const groveHome = serviceGroveHome(platform);
  if (existsSync(at(groveHome))) {
    text += `Kept ${groveHome} (the worker's state); delete it yourself if it is no longer needed.\n`;
  }
  io.out(text);
}
