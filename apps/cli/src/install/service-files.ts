/**
 * Service definitions that keep `grove worker run` alive across crashes and reboots: a launchd daemon on macOS (where
 * Tart runs) and a systemd unit on Linux. Pure generators: the CLI writes the files and runs the commands, so that
 * what gets installed can be tested byte for byte without root.
 */

/** The launchd label, reverse-DNS as launchd expects; `launchctl bootout system/<label>` addresses the job by it. */
export const LAUNCHD_LABEL = 'dev.grove.worker';
/** System-wide daemons live here so that they start at boot without anyone logging in. */
export const LAUNCHD_PLIST_PATH = `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist`;
/** The systemd unit name; `systemctl` commands take it as is. */
export const SYSTEMD_UNIT_NAME = 'grove-worker.service';
/** Units an administrator installs belong in /etc, which overrides packaged units in /lib. */
export const SYSTEMD_UNIT_PATH = `/etc/systemd/system/${SYSTEMD_UNIT_NAME}`;
/** launchd has no journal: without a file the worker's logs would be lost. */
export const DEFAULT_LOG_FILE = '/var/log/grove-worker.log';
/**
 * launchd starts daemons with a bare `/usr/bin:/bin:/usr/sbin:/sbin`, where neither Homebrew's `tart` (Apple Silicon:
 * /opt/homebrew/bin, Intel: /usr/local/bin) nor a Homebrew `node` is found; the worker runs `tart` by name.
 */
export const LAUNCHD_PATH = '/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

/** The platforms Grove can install a worker service on. */
export type ServicePlatform = 'darwin' | 'linux';

/**
 * The installed worker's `GROVE_HOME`: its state (the default `--data-dir` is `<home>/worker`) and the bootstrap-token
 * file. A system location, since a daemon has no login session; the macOS one follows Apple's convention.
 */
export function serviceGroveHome(platform: ServicePlatform): string {
  switch (platform) {
    case 'darwin':
      return '/Library/Application Support/Grove';
    case 'linux':
      return '/var/lib/grove';
  }
}

/** Where the installer keeps the bootstrap token (0600) that the service reads with `--bootstrap-token-file`. */
export function serviceBootstrapTokenPath(platform: ServicePlatform): string {
  return `${serviceGroveHome(platform)}/bootstrap-token`;
}

/** What `grove worker install` knows when it generates the service; every path must be absolute. */
export interface WorkerServiceOptions {
  /** The node binary: services do not inherit the installing shell's PATH, so it is named absolutely. */
  nodePath: string;
  /** The CLI entry script that `nodePath` runs (`… worker run …`). */
  cliEntry: string;
  /** Passed through unchanged as `worker run`'s CONTROLLER_URL argument. */
  controllerUrl: string;
  /**
   * A 0600 file holding the bootstrap token. Neither launchd nor systemd can feed the worker's stdin, and a token in
   * the arguments or the definition would be readable by every local user (`ps`, `systemctl show`, the plist).
   */
  bootstrapTokenFile: string;
  /** The worker's `GROVE_HOME`; a daemon has no login environment to find `~/.grove` from. */
  groveHome: string;
  /** `--name`; the worker defaults to the host name. */
  name?: string;
  /** `--labels`, written as one `k=v,…` argument. */
  labels?: Readonly<Record<string, string>>;
  /** `--resources`, written as one `k=amount,…` argument. */
  resources?: Readonly<Record<string, number>>;
  /** `--runtime`; the worker picks one by platform when absent. */
  runtime?: string;
  /** `--data-dir`; the worker defaults to `$GROVE_HOME/worker`. */
  dataDir?: string;
  /** `--endpoint-address`: where VM endpoints listen; the worker defaults to 127.0.0.1. */
  endpointAddress?: string;
  /** `--no-host-processes`: the worker runs no VM host processes; it runs them unless told. */
  noHostProcesses?: boolean;
  /** `--listen-metrics`: where `/healthz` and `/metrics` are served, or `off`; the worker defaults to 127.0.0.1:6130. */
  listenMetrics?: string;
  /** `--default-cpu`: CPUs for VMs that do not ask for a number. */
  defaultCpu?: number;
  /** `--default-memory`: MiB for VMs that do not ask for an amount. */
  defaultMemory?: number;
  /**
   * `--log-file` of the worker itself (JSON lines appended to a file). Separate from {@link logFile}: launchd already
   * sends stdout there, so the installer uses this one only where stdout goes elsewhere (systemd's journal).
   */
  jsonLogFile?: string;
  /** Run as this user instead of root; the VMs then live in that user's Tart home. */
  user?: string;
  /** launchd only: where stdout and stderr go; defaults to {@link DEFAULT_LOG_FILE}. */
  logFile?: string;
  /** Further environment (e.g. `HOME`, `TART_HOME`), written after `PATH`/`GROVE_HOME` and able to override them. */
  environment?: Readonly<Record<string, string>>;
}

/** A file the installer writes, with the permissions it must have. */
export interface ServiceFile {
  path: string;
  contents: string;
  mode: number;
}

/** Commands as argv arrays, run in order by the CLI (never through a shell, so nothing needs quoting). */
export interface ServiceCommands {
  /** Run after the files are written. */
  install: string[][];
  /** Run before the files are removed; failures mean "was not installed" and can be ignored. */
  uninstall: string[][];
  /** Run after the files are removed, so the service manager forgets the definition. */
  afterRemoval: string[][];
}

// XML 1.0 cannot carry most control characters at all, and systemd's line-based format would be broken by a newline;
// no path, URL, label or user name legitimately contains one, so they are refused rather than encoded.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * The worker's argv after the node binary: `<cliEntry> worker run <url> --bootstrap-token-file <file> [flags]`.
 * Shared by both formats so that launchd and systemd start exactly the same command. Throws on values the worker
 * could not read back (relative paths, commas inside labels, control characters).
 */
export function workerProgramArguments(options: WorkerServiceOptions): string[] {
  validate(options);
  const args = [
    options.nodePath,
    options.cliEntry,
    'worker',
    'run',
    options.controllerUrl,
    '--bootstrap-token-file',
    options.bootstrapTokenFile,
  ];
  if (options.name !== undefined) {
    args.push('--name', options.name);
  }
  if (options.labels !== undefined && Object.keys(options.labels).length > 0) {
    args.push('--labels', pairs(options.labels));
  }
  if (options.resources !== undefined && Object.keys(options.resources).length > 0) {
    args.push('--resources', pairs(options.resources));
  }
  if (options.runtime !== undefined) {
    args.push('--runtime', options.runtime);
  }
  if (options.dataDir !== undefined) {
    args.push('--data-dir', options.dataDir);
  }
  if (options.defaultCpu !== undefined) {
    args.push('--default-cpu', String(options.defaultCpu));
  }
  if (options.defaultMemory !== undefined) {
    args.push('--default-memory', String(options.defaultMemory));
  }
  if (options.jsonLogFile !== undefined) {
    args.push('--log-file', options.jsonLogFile);
  }
  if (options.endpointAddress !== undefined) {
    args.push('--endpoint-address', options.endpointAddress);
  }
  if (options.noHostProcesses === true) {
    args.push('--no-host-processes');
  }
  if (options.listenMetrics !== undefined) {
    args.push('--listen-metrics', options.listenMetrics);
  }
  return args;
}

/**
 * The launchd daemon definition. `KeepAlive` restarts the worker whenever it exits (a lost controller ends a session,
 * not the process, so an exit is a crash or an upgrade); `RunAtLoad` starts it at boot; `UserName` drops root.
 */
export function launchdPlist(options: WorkerServiceOptions): string {
  const args = workerProgramArguments(options);
  const logFile = options.logFile ?? DEFAULT_LOG_FILE;
  assertAbsolute('logFile', logFile);
  const environment = workerEnvironment(options, { PATH: LAUNCHD_PATH });
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    ...plistEntry('Label', plistString(LAUNCHD_LABEL)),
    '\t<key>ProgramArguments</key>',
    '\t<array>',
    ...args.map((arg) => `\t\t${plistString(arg)}`),
    '\t</array>',
    '\t<key>EnvironmentVariables</key>',
    '\t<dict>',
    ...Object.entries(environment).flatMap(([key, value]) => [
      `\t\t<key>${xmlEscape(key)}</key>`,
      `\t\t${plistString(value)}`,
    ]),
    '\t</dict>',
    ...(options.user !== undefined ? plistEntry('UserName', plistString(options.user)) : []),
    ...plistEntry('RunAtLoad', '<true/>'),
    ...plistEntry('KeepAlive', '<true/>'),
    ...plistEntry('StandardOutPath', plistString(logFile)),
    ...plistEntry('StandardErrorPath', plistString(logFile)),
    '</dict>',
    '</plist>',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The systemd unit. Ordered after network-online.target because the first thing the worker does is register with the
 * controller; `Restart=always` with a 5 s pause matches Orchard's session retry tick and avoids a restart storm.
 */
export function systemdUnit(options: WorkerServiceOptions): string {
  const args = workerProgramArguments(options);
  const environment = workerEnvironment(options, {});
  const lines = [
    '[Unit]',
    'Description=Grove worker',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${args.map(systemdExecArgument).join(' ')}`,
    ...Object.entries(environment).map(([key, value]) => `Environment=${systemdEnvironmentAssignment(key, value)}`),
    ...(options.user !== undefined ? [`User=${options.user}`] : []),
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ];
  return `${lines.join('\n')}\n`;
}

/** Where the service manager looks for the worker's service definition. */
export function serviceDefinitionPath(platform: ServicePlatform): string {
  switch (platform) {
    case 'darwin':
      return LAUNCHD_PLIST_PATH;
    case 'linux':
      return SYSTEMD_UNIT_PATH;
  }
}

/** The service definition for a platform, where the service manager looks for it, world-readable as it holds no secret. */
export function serviceDefinitionFile(platform: ServicePlatform, options: WorkerServiceOptions): ServiceFile {
  switch (platform) {
    case 'darwin':
      return { path: LAUNCHD_PLIST_PATH, contents: launchdPlist(options), mode: 0o644 };
    case 'linux':
      return { path: SYSTEMD_UNIT_PATH, contents: systemdUnit(options), mode: 0o644 };
  }
}

/**
 * The bootstrap-token file the service definition points at: owner-only (0600), because the token is the worker's
 * credential. The installer must also make it owned by `user` when the service drops privileges.
 */
export function bootstrapTokenFile(path: string, token: string): ServiceFile {
  assertAbsolute('bootstrapTokenFile', path);
  if (token.trim() === '' || CONTROL_CHARACTERS.test(token.trim())) {
    throw new Error('the bootstrap token must be a non-empty single line');
  }
  return { path, contents: `${token.trim()}\n`, mode: 0o600 };
}

/**
 * The commands that (un)register the service. macOS uses the `bootstrap`/`bootout` domain verbs (`load`/`unload` are
 * legacy and hide errors); `enable` first clears a `disable` override left by an earlier `launchctl disable`, which
 * would otherwise make `bootstrap` fail. Reinstalling is uninstall (ignoring failures) then install.
 */
export function serviceCommands(platform: ServicePlatform): ServiceCommands {
  switch (platform) {
    case 'darwin':
      return {
        install: [
          ['launchctl', 'enable', `system/${LAUNCHD_LABEL}`],
          ['launchctl', 'bootstrap', 'system', LAUNCHD_PLIST_PATH],
        ],
        uninstall: [['launchctl', 'bootout', `system/${LAUNCHD_LABEL}`]],
        afterRemoval: [],
      };
    case 'linux':
      return {
        install: [
          ['systemctl', 'daemon-reload'],
          ['systemctl', 'enable', '--now', SYSTEMD_UNIT_NAME],
        ],
        uninstall: [['systemctl', 'disable', '--now', SYSTEMD_UNIT_NAME]],
        afterRemoval: [['systemctl', 'daemon-reload']],
      };
  }
}

/**
 * Escapes text for an XML text node or attribute. All five predefined entities are replaced so the result is safe in
 * either position; anything else (including non-ASCII) is valid UTF-8 XML as it is.
 */
export function xmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * Escapes systemd specifiers: `%` starts one (`%h`, `%n`, …) in most unit settings, so a literal `%` — e.g. in a
 * URL-encoded controller path — must be doubled or systemd substitutes or rejects it.
 */
export function systemdSpecifierEscape(text: string): string {
  return text.replace(/%/g, '%%');
}

/**
 * Renders one argument of an `ExecStart=` command line so that systemd hands it to the worker unchanged: `%` and `$`
 * are doubled (specifier and environment expansion both apply to command lines), and anything beyond a conservative
 * set of plain characters is double-quoted with backslash escapes, which systemd's parser undoes.
 */
export function systemdExecArgument(arg: string): string {
  const escaped = systemdSpecifierEscape(arg).replace(/\$/g, '$$$$');
  // Prefixes such as "-" or "@" are special only on the executable, which is always an absolute path here.
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) {
    return escaped;
  }
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Renders one `Environment=` assignment, always quoted so that spaces in a value cannot split it into two
 * assignments. `$` is left alone: systemd does not expand variables inside `Environment=`.
 */
export function systemdEnvironmentAssignment(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
    throw new Error(`invalid environment variable name "${key}"`);
  }
  const text = systemdSpecifierEscape(`${key}=${value}`);
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function plistEntry(key: string, value: string): string[] {
  return [`\t<key>${xmlEscape(key)}</key>`, `\t${value}`];
}

function plistString(value: string): string {
  return `<string>${xmlEscape(value)}</string>`;
}

function workerEnvironment(options: WorkerServiceOptions, base: Record<string, string>): Record<string, string> {
  const environment: Record<string, string> = { ...base, GROVE_HOME: options.groveHome, ...options.environment };
  for (const [key, value] of Object.entries(environment)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new Error(`invalid environment variable name "${key}"`);
    }
    assertPrintable(`environment ${key}`, value);
  }
  return environment;
}

function pairs(map: Readonly<Record<string, string | number>>): string {
  return Object.entries(map)
    .map(([key, value]) => {
      // The worker splits --labels/--resources on "," and each pair on the first "=".
      if (key === '' || key.includes('=') || key.includes(',') || String(value).includes(',')) {
        throw new Error(`"${key}=${value}" cannot be passed as a worker flag: keys need no "=", neither part a ","`);
      }
      return `${key}=${value}`;
    })
    .join(',');
}

function validate(options: WorkerServiceOptions): void {
  assertAbsolute('nodePath', options.nodePath);
  assertAbsolute('cliEntry', options.cliEntry);
  assertAbsolute('bootstrapTokenFile', options.bootstrapTokenFile);
  assertAbsolute('groveHome', options.groveHome);
  for (const [field, path] of [
    ['dataDir', options.dataDir],
    ['jsonLogFile', options.jsonLogFile],
  ] as const) {
    if (path !== undefined) {
      assertAbsolute(field, path);
    }
  }
  for (const [field, n] of [
    ['defaultCpu', options.defaultCpu],
    ['defaultMemory', options.defaultMemory],
  ] as const) {
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) {
      throw new Error(`${field} must be a non-negative integer, got ${n}`);
    }
  }
  const values: [string, string | undefined][] = [
    ['controllerUrl', options.controllerUrl],
    ['name', options.name],
    ['runtime', options.runtime],
    ['endpointAddress', options.endpointAddress],
    ['user', options.user],
    ...Object.entries(options.labels ?? {}).map(([k, v]): [string, string] => [`label ${k}`, `${k}=${v}`]),
    ...Object.keys(options.resources ?? {}).map((k): [string, string] => [`resource ${k}`, k]),
  ];
  for (const [field, value] of values) {
    if (value !== undefined) {
      assertPrintable(field, value);
    }
  }
  if (options.controllerUrl === '') {
    throw new Error('controllerUrl must not be empty');
  }
  // Login names on both platforms fit this; it keeps "%" (a systemd specifier) and spaces out of `User=`.
  if (options.user !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(options.user)) {
    throw new Error(`invalid user name "${options.user}"`);
  }
}

function assertAbsolute(field: string, path: string): void {
  assertPrintable(field, path);
  if (!path.startsWith('/')) {
    throw new Error(`${field} must be an absolute path, got "${path}"`);
  }
}

function assertPrintable(field: string, value: string): void {
  if (CONTROL_CHARACTERS.test(value)) {
    throw new Error(`${field} must not contain control characters such as newlines`);
  }
}
