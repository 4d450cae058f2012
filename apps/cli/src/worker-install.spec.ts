import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { workerArgs } from './commands/controller.commands';
import type { CommandIo } from './commands/io';
import { workerInstall, workerUninstall, type WorkerInstallOptions } from './commands/worker-install.commands';
import type { CommandResult, InstallSystem } from './install/install-system';
import { cli, tempHome } from './test-support/fake-controller';

const TOKEN = 'grove-bootstrap-token-v0.d29ya2Vycw.c2VjcmV0LXRva2Vu';
const TOKEN_SECRET = 'c2VjcmV0LXRva2Vu';
const UID = process.getuid?.() ?? 0;
const GID = process.getgid?.() ?? 0;

interface Harness {
  system: InstallSystem;
  commands: string[][];
  io: CommandIo;
  out(): string;
  err(): string;
  at(path: string): string;
}

/**
 * A scratch root, real node and CLI paths (they must exist for a real install) and a command runner that records
 * instead of running; `id` answers with this process's own ids so that chown needs no root.
 */
function harness(
  root: string,
  platform: NodeJS.Platform,
  overrides: Partial<InstallSystem> = {},
  failing: (argv: readonly string[]) => boolean = () => false,
): Harness {
  const commands: string[][] = [];
  let out = '';
  let err = '';
  const run = (argv: readonly string[]): Promise<CommandResult> => {
    commands.push([...argv]);
    if (argv[0] === 'id') {
      if (argv[2] === 'nobody-here') {
        return Promise.resolve({ code: 1, stdout: '', stderr: 'id: nobody-here: no such user' });
      }
      return Promise.resolve({ code: 0, stdout: `${argv[1] === '-u' ? UID : GID}\n`, stderr: '' });
    }
    return Promise.resolve(
      failing(argv)
        ? { code: 5, stdout: '', stderr: 'Bootstrap failed: 5: Input/output error\n' }
        : { code: 0, stdout: '', stderr: '' },
    );
  };
  const cliEntry = join(root, 'cli-main.js');
  writeFileSync(cliEntry, '');
  return {
    system: {
      platform,
      isRoot: true,
      root,
      nodePath: process.execPath,
      cliEntry,
      run,
      readStdin: () => Promise.resolve(`${TOKEN}\n`),
      ...overrides,
    },
    commands,
    io: {
      out: (t) => (out += t),
      err: (t) => (err += t),
      env: {},
      now: () => new Date('2026-01-01T12:00:00Z'),
    },
    out: () => out,
    err: () => err,
    at: (path) => join(root, path),
  };
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('grove worker install / uninstall', () => {
  let home: ReturnType<typeof tempHome>;

  beforeEach(() => {
    home = tempHome();
  });

  afterEach(() => {
    home.remove();
  });

  describe('on macOS (launchd)', () => {
    const plist = '/Library/LaunchDaemons/dev.grove.worker.plist';
    const tokenPath = '/Library/Application Support/Grove/bootstrap-token';

    it('writes the daemon plist and a 0600 token file owned by --user, then bootstraps it', async () => {
      const h = harness(home.dir, 'darwin');
      await workerInstall(
        h.io,
        'controller.example.com',
        {
          bootstrapToken: TOKEN,
          name: 'mac-mini-1',
          labels: ['pool=ios', 'os=tahoe'],
          resources: ['org.cirruslabs.tart-vms=1'],
          defaultCpu: 6,
          defaultMemory: 12288,
          runtime: 'tart',
          user: 'ci',
        },
        h.system,
      );

      const contents = readFileSync(h.at(plist), 'utf8');
      expect(mode(h.at(plist))).toBe(0o644);
      expect(contents).toContain('<key>KeepAlive</key>\n\t<true/>');
      expect(contents).toContain('<key>RunAtLoad</key>\n\t<true/>');
      expect(contents).toContain('<key>UserName</key>\n\t<string>ci</string>');
      expect(contents).toContain('<key>StandardOutPath</key>\n\t<string>/var/log/grove-worker.log</string>');
      expect(contents).toContain('<key>StandardErrorPath</key>\n\t<string>/var/log/grove-worker.log</string>');
      const args = [...contents.matchAll(/^\t\t<string>(.*)<\/string>$/gm)].map((m) => m[1]);
      expect(args).toEqual([
        process.execPath,
        h.system.cliEntry,
        'worker',
        'run',
        'https://controller.example.com:6120',
        '--bootstrap-token-file',
        tokenPath,
        '--name',
        'mac-mini-1',
        '--labels',
        'pool=ios,os=tahoe',
        '--resources',
        'org.cirruslabs.tart-vms=1',
        '--runtime',
        'tart',
        '--default-cpu',
        '6',
        '--default-memory',
        '12288',
        // The environment values follow the argument array in the plist.
        '/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
        '/Library/Application Support/Grove',
      ]);
      expect(contents).not.toContain(TOKEN_SECRET);

      expect(readFileSync(h.at(tokenPath), 'utf8')).toBe(`${TOKEN}\n`);
      expect(mode(h.at(tokenPath))).toBe(0o600);
      expect(statSync(h.at(tokenPath))).toMatchObject({ uid: UID, gid: GID });
      expect(existsSync(h.at('/var/log/grove-worker.log'))).toBe(true);
      expect(h.commands).toEqual([
        ['id', '-u', 'ci'],
        ['id', '-g', 'ci'],
        ['launchctl', 'enable', 'system/dev.grove.worker'],
        ['launchctl', 'bootstrap', 'system', plist],
      ]);
      expect(h.out()).toContain('Installed and started the worker service (as user ci, service account "workers")');
      expect(h.out()).toContain('sudo launchctl print system/dev.grove.worker');
      expect(h.out()).not.toContain(TOKEN_SECRET);
    });

    it('replaces an installed service: boots the old one out first, and a wider token file becomes 0600', async () => {
      const h = harness(home.dir, 'darwin');
      await workerInstall(h.io, 'https://a.example:6120', { bootstrapToken: TOKEN }, h.system);
      chmodSync(h.at(tokenPath), 0o644);
      h.commands.length = 0;

      await workerInstall(
        h.io,
        'https://b.example:6120',
        { bootstrapTokenStdin: true, logFile: '/tmp/w.log' },
        h.system,
      );

      expect(h.commands).toEqual([
        ['launchctl', 'bootout', 'system/dev.grove.worker'],
        ['launchctl', 'enable', 'system/dev.grove.worker'],
        ['launchctl', 'bootstrap', 'system', plist],
      ]);
      const contents = readFileSync(h.at(plist), 'utf8');
      expect(contents).toContain('https://b.example:6120');
      expect(contents).not.toContain('UserName');
      expect(contents).toContain('<key>StandardOutPath</key>\n\t<string>/tmp/w.log</string>');
      expect(mode(h.at(tokenPath))).toBe(0o600);
      expect(h.out()).toContain('Replacing the installed worker service.');
    });

    it('reports a failing launchctl with its output', async () => {
      const h = harness(home.dir, 'darwin', {}, (argv) => argv[1] === 'bootstrap');
      await expect(workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN }, h.system)).rejects.toThrow(
        `"launchctl bootstrap system ${plist}" failed with exit code 5: Bootstrap failed: 5: Input/output error`,
      );
    });

    it('uninstalls, and says so when run again', async () => {
      const h = harness(home.dir, 'darwin', {}, (argv) => argv[1] === 'bootout' && !existsSync(h.at(plist)));
      await workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN }, h.system);
      h.commands.length = 0;

      await workerUninstall(h.io, {}, h.system);
      expect(existsSync(h.at(plist))).toBe(false);
      expect(existsSync(h.at(tokenPath))).toBe(false);
      expect(h.commands).toEqual([['launchctl', 'bootout', 'system/dev.grove.worker']]);
      expect(h.out()).toContain(
        'Stopped and unregistered the worker service (launchctl bootout system/dev.grove.worker).\n' +
          `Removed ${plist}\nRemoved ${tokenPath}\n` +
          "Kept /Library/Application Support/Grove (the worker's state)",
      );

      const again = harness(home.dir, 'darwin', {}, () => true);
      await workerUninstall(again.io, {}, again.system);
      expect(again.out()).toBe('The worker service is not installed: nothing to do.\n');
    });
  });

  describe('on Linux (systemd)', () => {
    const unit = '/etc/systemd/system/grove-worker.service';
    const tokenPath = '/var/lib/grove/bootstrap-token';

    it('writes the unit with User= and Restart=always, then reloads and enables it now', async () => {
      const h = harness(home.dir, 'linux');
      const tokenFile = join(home.dir, 'token.txt');
      writeFileSync(tokenFile, `${TOKEN}\n`);
      await workerInstall(
        h.io,
        'http://10.0.0.5:6120',
        {
          bootstrapTokenFile: tokenFile,
          user: 'grove',
          runtime: 'synthetic',
          dataDir: '/srv/grove-data',
          logFile: '/var/log/grove/worker.jsonl',
        },
        h.system,
      );

      const contents = readFileSync(h.at(unit), 'utf8');
      expect(contents).toContain(
        `ExecStart=${process.execPath} ${h.system.cliEntry} worker run http://10.0.0.5:6120 ` +
          `--bootstrap-token-file ${tokenPath} --runtime synthetic --data-dir /srv/grove-data ` +
          '--log-file /var/log/grove/worker.jsonl\n',
      );
      expect(contents).toContain('\nUser=grove\n');
      expect(contents).toContain('\nRestart=always\n');
      expect(contents).toContain('\nEnvironment="GROVE_HOME=/var/lib/grove"\n');
      expect(contents).not.toContain(TOKEN_SECRET);
      expect(mode(h.at(tokenPath))).toBe(0o600);
      expect(existsSync(h.at('/srv/grove-data'))).toBe(true);
      expect(existsSync(h.at('/var/log/grove/worker.jsonl'))).toBe(true);
      expect(h.commands.slice(2)).toEqual([
        ['systemctl', 'daemon-reload'],
        ['systemctl', 'enable', '--now', 'grove-worker.service'],
      ]);
      expect(h.out()).toContain('journalctl -u grove-worker.service -f');
    });

    it('runs as root without --user', async () => {
      const h = harness(home.dir, 'linux');
      await workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN }, h.system);
      expect(readFileSync(h.at(unit), 'utf8')).not.toContain('User=');
      expect(h.commands.map((c) => c[0])).toEqual(['systemctl', 'systemctl']);
      expect(h.out()).toContain('(as root, service account "workers")');
    });

    it('uninstalls: disables, removes both files, reloads; idempotent', async () => {
      const h = harness(home.dir, 'linux');
      await workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN }, h.system);
      h.commands.length = 0;

      await workerUninstall(h.io, {}, h.system);
      expect(h.commands).toEqual([
        ['systemctl', 'disable', '--now', 'grove-worker.service'],
        ['systemctl', 'daemon-reload'],
      ]);
      expect(existsSync(h.at(unit))).toBe(false);
      expect(existsSync(h.at(tokenPath))).toBe(false);

      const again = harness(home.dir, 'linux', {}, (argv) => argv[1] === 'disable');
      await workerUninstall(again.io, {}, again.system);
      expect(again.commands).toEqual([['systemctl', 'disable', '--now', 'grove-worker.service']]);
      expect(again.out()).toBe('The worker service is not installed: nothing to do.\n');
    });
  });

  describe('--dry-run', () => {
    it('prints the files and commands, hides the token and touches nothing, without root', async () => {
      const h = harness(home.dir, 'linux', { isRoot: false });
      await workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN, user: 'grove', dryRun: true }, h.system);

      expect(h.commands).toEqual([]);
      expect(existsSync(h.at('/etc'))).toBe(false);
      expect(existsSync(h.at('/var'))).toBe(false);
      const out = h.out();
      expect(out).toContain('# Would write /var/lib/grove/bootstrap-token (mode 0600, owned by grove):\n');
      expect(out).toContain('<the bootstrap token of service account "workers">\n');
      expect(out).toContain('# Would write /etc/systemd/system/grove-worker.service (mode 0644):\n[Unit]\n');
      expect(out).toContain('User=grove\n');
      expect(out).toContain('# Would run:\nsystemctl daemon-reload\nsystemctl enable --now grove-worker.service\n');
      expect(out).not.toContain(TOKEN_SECRET);
    });

    it('prints the uninstall steps without root', async () => {
      const h = harness(home.dir, 'darwin', { isRoot: false });
      await workerUninstall(h.io, { dryRun: true }, h.system);
      expect(h.commands).toEqual([]);
      expect(h.out()).toBe(
        '# Would run (a failure only means the service is not loaded):\n' +
          'launchctl bootout system/dev.grove.worker\n' +
          '# Nothing to remove: no service definition or token file is installed.\n',
      );
    });

    it('works through the command line on this machine', async () => {
      const result = await cli({}, 'worker', 'install', 'ctl.example', '--bootstrap-token', TOKEN, '--dry-run');
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain('--endpoint-address');
      const everywhere = await cli(
        {},
        ...[
          'worker',
          'install',
          'ctl.example',
          '--bootstrap-token',
          TOKEN,
          '--endpoint-address',
          '0.0.0.0',
          '--dry-run',
        ],
      );
      expect(everywhere.code).toBe(0);
      expect(everywhere.stdout).toMatch(/--endpoint-address\W+0\.0\.0\.0/);
      const bad = await cli(
        {},
        ...['worker', 'install', 'ctl.example', '--bootstrap-token', TOKEN, '--endpoint-address', 'lan', '--dry-run'],
      );
      expect(bad).toMatchObject({
        code: 2,
        stderr: 'Error: --endpoint-address "lan" must be an IP address of this host\n',
      });
      expect(result.stdout).toContain('https://ctl.example:6120');
      expect(result.stdout).toContain('--bootstrap-token-file');
      expect(result.stdout).not.toContain(TOKEN_SECRET);
    });

    it('passes --no-host-processes on to the service, and only when given', async () => {
      const args = ['worker', 'install', 'ctl.example', '--bootstrap-token', TOKEN, '--dry-run'];
      const runs = await cli({}, ...args);
      expect(runs.code).toBe(0);
      expect(runs.stdout).not.toContain('--no-host-processes');
      const none = await cli({}, ...args, '--no-host-processes');
      expect(none.code).toBe(0);
      expect(none.stdout).toContain('--no-host-processes');
    });

    it('passes --listen-metrics on to the service, and refuses an address the worker would refuse', async () => {
      const args = ['worker', 'install', 'ctl.example', '--bootstrap-token', TOKEN, '--dry-run'];
      expect((await cli({}, ...args)).stdout).not.toContain('--listen-metrics');
      const lan = await cli({}, ...args, '--listen-metrics', '0.0.0.0:9100');
      expect(lan.code).toBe(0);
      expect(lan.stdout).toContain('--listen-metrics');
      expect(lan.stdout).toContain('0.0.0.0:9100');
      const off = await cli({}, ...args, '--listen-metrics', '');
      expect(off.code).toBe(0);
      expect(off.stdout).toMatch(/--listen-metrics\W+off/);
      expect(await cli({}, ...args, '--listen-metrics', 'metrics.lan:9100')).toMatchObject({
        code: 2,
        stderr:
          'Error: --listen-metrics "metrics.lan:9100" must be IP:PORT (e.g. 127.0.0.1:6130 or 0.0.0.0:6130) or off\n',
      });
    });
  });

  describe('refusals', () => {
    it('tells a user who is not root to use sudo, before reading anything', async () => {
      const h = harness(home.dir, 'darwin', { isRoot: false });
      await expect(workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN }, h.system)).rejects.toThrow(
        'installing the worker service changes system files and needs root: run it again with sudo ' +
          '("sudo grove worker install …"), or add --dry-run to only print what it would do',
      );
      await expect(workerUninstall(h.io, {}, h.system)).rejects.toThrow(/uninstalling .* needs root/);
      expect(h.commands).toEqual([]);
    });

    it.each<[string, WorkerInstallOptions, RegExp]>([
      ['no token', {}, /exactly one of --bootstrap-token, --bootstrap-token-stdin or --bootstrap-token-file/],
      ['two tokens', { bootstrapToken: TOKEN, bootstrapTokenStdin: true }, /exactly one of/],
      ['a malformed token', { bootstrapToken: 'nope' }, /invalid bootstrap token/],
      ['a bad label', { bootstrapToken: TOKEN, labels: ['novalue'] }, /novalue/],
      ['a bad user name', { bootstrapToken: TOKEN, user: 'john doe' }, /invalid user name/],
    ])('refuses %s', async (_case, options, message) => {
      const h = harness(home.dir, 'linux');
      await expect(workerInstall(h.io, 'ctl', options, h.system)).rejects.toThrow(message);
      expect(existsSync(h.at('/etc'))).toBe(false);
    });

    it('refuses a user that does not exist, before writing anything', async () => {
      const h = harness(home.dir, 'linux');
      await expect(
        workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN, user: 'nobody-here' }, h.system),
      ).rejects.toThrow('there is no user "nobody-here" on this machine (--user)');
      expect(existsSync(h.at('/etc'))).toBe(false);
    });

    it('refuses other platforms', async () => {
      const h = harness(home.dir, 'win32');
      await expect(workerInstall(h.io, 'ctl', { bootstrapToken: TOKEN }, h.system)).rejects.toThrow(
        /can be installed on macOS \(launchd\) and Linux \(systemd\), not on win32/,
      );
    });
  });

  it('documents install and uninstall with examples', async () => {
    const install = await cli({}, 'worker', 'install', '--help');
    const uninstall = await cli({}, 'worker', 'uninstall', '--help');
    expect(install.stdout).toContain('--bootstrap-token-file <file>');
    expect(install.stdout).toContain('--user <user>');
    expect(install.stdout).toContain('Examples:\n  $ grove get bootstrap-token');
    expect(uninstall.stdout).toContain('Examples:\n  $ sudo grove worker uninstall');
  });
});

describe('grove worker run', () => {
  it('forwards the runtime, data dir and log file to the worker', () => {
    expect(
      workerArgs('/w/main.js', 'ctl', {
        bootstrapTokenFile: '/t',
        runtime: 'synthetic',
        dataDir: '/d',
        logFile: '/l.jsonl',
        heartbeatInterval: '2',
        syntheticDelays: ['clone=500', 'boot=10'],
        endpointAddress: '0.0.0.0',
      }),
    ).toEqual([
      '/w/main.js',
      'ctl',
      '--bootstrap-token-file',
      '/t',
      '--runtime',
      'synthetic',
      '--data-dir',
      '/d',
      '--log-file',
      '/l.jsonl',
      '--heartbeat-interval',
      '2',
      '--endpoint-address',
      '0.0.0.0',
      '--synthetic-delays',
      'clone=500',
      '--synthetic-delays',
      'boot=10',
    ]);
  });

  it('passes --no-host-processes on to the worker only when given', () => {
    expect(workerArgs('/w/main.js', 'ctl', { bootstrapTokenFile: '/t', hostProcesses: false })).toEqual([
      '/w/main.js',
      'ctl',
      '--bootstrap-token-file',
      '/t',
      '--no-host-processes',
    ]);
    expect(workerArgs('/w/main.js', 'ctl', { bootstrapTokenFile: '/t', hostProcesses: true })).not.toContain(
      '--no-host-processes',
    );
  });

  it('passes --listen-metrics on to the worker only when given (an empty value too: it turns the listener off)', () => {
    const base = { bootstrapTokenFile: '/t' };
    expect(workerArgs('/w/main.js', 'ctl', { ...base, listenMetrics: '127.0.0.1:0' }).slice(-2)).toEqual([
      '--listen-metrics',
      '127.0.0.1:0',
    ]);
    expect(workerArgs('/w/main.js', 'ctl', { ...base, listenMetrics: '' }).slice(-2)).toEqual(['--listen-metrics', '']);
    expect(workerArgs('/w/main.js', 'ctl', base)).not.toContain('--listen-metrics');
  });

  it('documents the new flags and rejects an unknown runtime', async () => {
    const help = await cli({}, 'worker', 'run', '--help');
    expect(help.stdout).toContain('--listen-metrics <address>');
    expect(help.stdout).toContain('--no-host-processes');
    expect(help.stdout).toContain('--runtime <runtime>');
    expect(help.stdout).toContain('--data-dir <dir>');
    expect(help.stdout).toContain('--log-file <file>');
    expect(help.stdout).toContain('--endpoint-address <addr>');
    const bad = await cli({}, 'worker', 'run', 'ctl', '--runtime', 'vetu');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--runtime <runtime>' argument 'vetu' is invalid");
  });
});
