import {
  bootstrapTokenFile,
  DEFAULT_LOG_FILE,
  launchdPlist,
  serviceCommands,
  serviceDefinitionFile,
  systemdEnvironmentAssignment,
  systemdExecArgument,
  systemdUnit,
  workerProgramArguments,
  xmlEscape,
  type WorkerServiceOptions,
} from './service-files';

const TOKEN = 'grove-bootstrap-token-v0.YWRtaW4.c2VjcmV0LXRva2Vu';

const BASE: WorkerServiceOptions = {
  nodePath: '/opt/homebrew/bin/node',
  cliEntry: '/opt/grove/apps/cli/dist/main.js',
  controllerUrl: 'https://controller.internal:6120',
  bootstrapTokenFile: '/usr/local/etc/grove/bootstrap-token',
  groveHome: '/var/lib/grove',
};

// Values a careless generator would break: XML metacharacters, spaces, systemd specifiers and variables, quotes and
// backslashes.
const NASTY: WorkerServiceOptions = {
  ...BASE,
  cliEntry: '/Applications/Grove Tools/main.js',
  controllerUrl: 'https://ctl.example:6120/api%2Fv1?a=1&b=<2>',
  bootstrapTokenFile: '/etc/grove/token & key',
  groveHome: '/srv/grove 100%',
  name: `mac "mini" $HOME \\ 'o' ;`,
  labels: { pool: 'ios&mac', tier: '<gold>' },
  resources: { 'org.cirruslabs.tart-vms': 2, gpu: 1 },
  runtime: 'tart',
  logFile: '/var/log/grove worker.log',
};

type PlistValue = string | boolean | PlistValue[] | { [key: string]: PlistValue };

/**
 * A deliberately small plist reader for the test: it accepts only the shapes a launchd file uses, and fails loudly
 * on anything else (unknown tag, unescaped `&` or `<`, unbalanced tags), so that malformed output cannot pass.
 */
function parsePlist(xml: string): { root: PlistValue; keyOrder: string[] } {
  const header =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<plist version="1.0">\n';
  expect(xml.startsWith(header)).toBe(true);
  expect(xml.endsWith('</plist>\n')).toBe(true);
  const body = xml.slice(header.length, -'</plist>\n'.length);
  const tokens = body.match(/<[^>]*>|[^<]+/g) ?? [];
  let pos = 0;
  const keyOrder: string[] = [];
  const text = (raw: string): string => {
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(raw) || raw.includes('>')) {
      throw new Error(`unescaped text: ${raw}`);
    }
    return raw
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  };
  const skipSpace = () => {
    while (pos < tokens.length && /^\s+$/.test(tokens[pos])) {
      pos++;
    }
  };
  const expectTag = (tag: string) => {
    skipSpace();
    if (tokens[pos] !== tag) {
      throw new Error(`expected ${tag}, got ${tokens[pos]}`);
    }
    pos++;
  };
  const element = (tag: 'key' | 'string'): string => {
    expectTag(`<${tag}>`);
    let value = '';
    if (!tokens[pos].startsWith('<')) {
      value = text(tokens[pos]);
      pos++;
    }
    expectTag(`</${tag}>`);
    return value;
  };
  const value = (topLevel: boolean): PlistValue => {
    skipSpace();
    const tag = tokens[pos];
    switch (tag) {
      case '<true/>':
        pos++;
        return true;
      case '<false/>':
        pos++;
        return false;
      case '<string>':
        return element('string');
      case '<array>': {
        pos++;
        const items: PlistValue[] = [];
        skipSpace();
        while (tokens[pos] !== '</array>') {
          items.push(value(false));
          skipSpace();
        }
        pos++;
        return items;
      }
      case '<dict>': {
        pos++;
        const dict: Record<string, PlistValue> = {};
        skipSpace();
        while (tokens[pos] !== '</dict>') {
          const key = element('key');
          if (key in dict) {
            throw new Error(`duplicate key ${key}`);
          }
          if (topLevel) {
            keyOrder.push(key);
          }
          dict[key] = value(false);
          skipSpace();
        }
        pos++;
        return dict;
      }
      default:
        throw new Error(`unexpected token ${tag}`);
    }
  };
  const root = value(true);
  skipSpace();
  expect(pos).toBe(tokens.length);
  return { root, keyOrder };
}

/**
 * Splits an `ExecStart=` value the way systemd.service(5) "Command lines" describes: words separated by spaces,
 * double-quoted words with C escapes, `%%` → `%`, `$$` → `$`. A lone `%x` or `$X` fails, since systemd would
 * substitute it.
 */
function parseExecStart(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  const unescapeSpecials = (word: string): string =>
    word.replace(/%(.)|\$(.)/g, (match, pct: string | undefined, dollar: string | undefined) => {
      if (pct === '%' || dollar === '$') {
        return match[0];
      }
      throw new Error(`unescaped specifier or variable in ${word}`);
    });
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let word = '';
    if (line[i] === '"') {
      i++;
      while (line[i] !== '"') {
        if (i >= line.length) {
          throw new Error('unterminated quote');
        }
        if (line[i] === '\\') {
          const next = line[i + 1];
          if (next !== '\\' && next !== '"') {
            throw new Error(`unexpected escape \\${next}`);
          }
          word += next;
          i += 2;
        } else {
          word += line[i];
          i++;
        }
      }
      i++;
      if (i < line.length && line[i] !== ' ') {
        throw new Error('text straight after a closing quote');
      }
    } else {
      while (i < line.length && line[i] !== ' ') {
        if (/["'\\;]/.test(line[i])) {
          throw new Error(`unquoted special character ${line[i]} in ${line}`);
        }
        word += line[i];
        i++;
      }
    }
    words.push(unescapeSpecials(word));
  }
  return words;
}

/** The `[Section]` → lines map of a unit file, in order. */
function unitSections(unit: string): Record<string, string[]> {
  const sections: Record<string, string[]> = {};
  let current = '';
  for (const line of unit.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = header[1];
      sections[current] = [];
    } else if (line !== '') {
      sections[current].push(line);
    }
  }
  return sections;
}

function settings(lines: string[], key: string): string[] {
  return lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe('the worker command line', () => {
  it('runs the CLI entry with the token file and only the flags given', () => {
    expect(workerProgramArguments(BASE)).toEqual([
      '/opt/homebrew/bin/node',
      '/opt/grove/apps/cli/dist/main.js',
      'worker',
      'run',
      'https://controller.internal:6120',
      '--bootstrap-token-file',
      '/usr/local/etc/grove/bootstrap-token',
    ]);
  });

  it('adds --name, --labels, --resources and --runtime as single arguments', () => {
    expect(
      workerProgramArguments({
        ...BASE,
        name: 'mac-mini-1',
        labels: { pool: 'ios', os: 'sequoia' },
        resources: { 'org.cirruslabs.tart-vms': 2 },
        runtime: 'tart',
      }).slice(7),
    ).toEqual([
      '--name',
      'mac-mini-1',
      '--labels',
      'pool=ios,os=sequoia',
      '--resources',
      'org.cirruslabs.tart-vms=2',
      '--runtime',
      'tart',
    ]);
  });

  it('adds --data-dir, --default-cpu, --default-memory and the worker --log-file', () => {
    expect(
      workerProgramArguments({
        ...BASE,
        dataDir: '/var/lib/grove/worker',
        defaultCpu: 2,
        defaultMemory: 4096,
        jsonLogFile: '/var/log/grove-worker.jsonl',
      }).slice(7),
    ).toEqual([
      '--data-dir',
      '/var/lib/grove/worker',
      '--default-cpu',
      '2',
      '--default-memory',
      '4096',
      '--log-file',
      '/var/log/grove-worker.jsonl',
    ]);
  });

  it('adds --endpoint-address when given', () => {
    expect(workerProgramArguments({ ...BASE, endpointAddress: '0.0.0.0' }).slice(-2)).toEqual([
      '--endpoint-address',
      '0.0.0.0',
    ]);
  });

  it('adds --no-host-processes when asked', () => {
    expect(workerProgramArguments({ ...BASE, noHostProcesses: true }).slice(-1)).toEqual(['--no-host-processes']);
    expect(workerProgramArguments({ ...BASE, noHostProcesses: false })).not.toContain('--no-host-processes');
  });

  it('adds --listen-metrics when given', () => {
    expect(workerProgramArguments({ ...BASE, listenMetrics: '0.0.0.0:6130' }).slice(-2)).toEqual([
      '--listen-metrics',
      '0.0.0.0:6130',
    ]);
    expect(workerProgramArguments(BASE)).not.toContain('--listen-metrics');
  });

  it('leaves out empty label and resource maps', () => {
    expect(workerProgramArguments({ ...BASE, labels: {}, resources: {} })).toHaveLength(7);
  });

  it.each<[string, Partial<WorkerServiceOptions>, RegExp]>([
    ['a relative node path', { nodePath: 'node' }, /nodePath must be an absolute path/],
    ['a relative CLI entry', { cliEntry: 'dist/main.js' }, /cliEntry must be an absolute path/],
    ['a relative token file', { bootstrapTokenFile: 'token' }, /bootstrapTokenFile must be an absolute path/],
    ['a relative GROVE_HOME', { groveHome: '~/.grove' }, /groveHome must be an absolute path/],
    ['an empty controller URL', { controllerUrl: '' }, /controllerUrl must not be empty/],
    ['a newline in the name', { name: 'a\nExecStartPre=/bin/rm' }, /name must not contain control characters/],
    ['a comma in a label value', { labels: { pool: 'a,b' } }, /cannot be passed as a worker flag/],
    ['an = in a label key', { labels: { 'a=b': 'c' } }, /cannot be passed as a worker flag/],
    ['a relative data dir', { dataDir: 'data' }, /dataDir must be an absolute path/],
    ['a relative worker log file', { jsonLogFile: 'w.log' }, /jsonLogFile must be an absolute path/],
    ['a fractional CPU default', { defaultCpu: 1.5 }, /defaultCpu must be a non-negative integer/],
    ['a user with a space', { user: 'john doe' }, /invalid user name/],
    ['a user with a %', { user: 'a%n' }, /invalid user name/],
  ])('refuses %s', (_case, override, message) => {
    expect(() => workerProgramArguments({ ...BASE, ...override })).toThrow(message);
  });
});

describe('launchd plist', () => {
  it('matches the expected file for a plain install', () => {
    expect(launchdPlist(BASE)).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>Label</key>
\t<string>dev.grove.worker</string>
\t<key>ProgramArguments</key>
\t<array>
\t\t<string>/opt/homebrew/bin/node</string>
\t\t<string>/opt/grove/apps/cli/dist/main.js</string>
\t\t<string>worker</string>
\t\t<string>run</string>
\t\t<string>https://controller.internal:6120</string>
\t\t<string>--bootstrap-token-file</string>
\t\t<string>/usr/local/etc/grove/bootstrap-token</string>
\t</array>
\t<key>EnvironmentVariables</key>
\t<dict>
\t\t<key>PATH</key>
\t\t<string>/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin</string>
\t\t<key>GROVE_HOME</key>
\t\t<string>/var/lib/grove</string>
\t</dict>
\t<key>RunAtLoad</key>
\t<true/>
\t<key>KeepAlive</key>
\t<true/>
\t<key>StandardOutPath</key>
\t<string>/var/log/grove-worker.log</string>
\t<key>StandardErrorPath</key>
\t<string>/var/log/grove-worker.log</string>
</dict>
</plist>
`);
  });

  it('parses as a plist with the keys in order and tart reachable on PATH', () => {
    const { root, keyOrder } = parsePlist(launchdPlist({ ...BASE, user: 'admin' }));
    expect(keyOrder).toEqual([
      'Label',
      'ProgramArguments',
      'EnvironmentVariables',
      'UserName',
      'RunAtLoad',
      'KeepAlive',
      'StandardOutPath',
      'StandardErrorPath',
    ]);
    expect(root).toMatchObject({ Label: 'dev.grove.worker', RunAtLoad: true, KeepAlive: true, UserName: 'admin' });
    const path = (root as { EnvironmentVariables: { PATH: string } }).EnvironmentVariables.PATH;
    expect(path.split(':')).toContain('/opt/homebrew/bin');
  });

  it('round-trips every value through XML escaping, in arguments and environment alike', () => {
    const { root } = parsePlist(launchdPlist({ ...NASTY, environment: { TART_HOME: '/Volumes/VMs & <More>' } }));
    expect(root).toMatchObject({
      ProgramArguments: workerProgramArguments(NASTY),
      EnvironmentVariables: {
        PATH: '/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
        GROVE_HOME: '/srv/grove 100%',
        TART_HOME: '/Volumes/VMs & <More>',
      },
      StandardOutPath: '/var/log/grove worker.log',
      StandardErrorPath: '/var/log/grove worker.log',
    });
    expect((root as { ProgramArguments: string[] }).ProgramArguments).toContain(
      'https://ctl.example:6120/api%2Fv1?a=1&b=<2>',
    );
  });

  it('names UserName only when --user is given', () => {
    expect(launchdPlist(BASE)).not.toContain('UserName');
    expect(parsePlist(launchdPlist(BASE)).keyOrder).not.toContain('UserName');
    expect(launchdPlist({ ...BASE, user: 'ci' })).toContain('\t<key>UserName</key>\n\t<string>ci</string>\n');
  });

  it('lets extra environment override the defaults', () => {
    const { root } = parsePlist(launchdPlist({ ...BASE, environment: { PATH: '/custom/bin', HOME: '/Users/ci' } }));
    expect((root as { EnvironmentVariables: unknown }).EnvironmentVariables).toEqual({
      PATH: '/custom/bin',
      GROVE_HOME: '/var/lib/grove',
      HOME: '/Users/ci',
    });
  });

  it('uses the default log file unless one is given, and wants it absolute', () => {
    expect(launchdPlist(BASE)).toContain(`<string>${DEFAULT_LOG_FILE}</string>`);
    expect(() => launchdPlist({ ...BASE, logFile: 'grove.log' })).toThrow(/logFile must be an absolute path/);
  });
});

describe('systemd unit', () => {
  it('matches the expected file for a plain install', () => {
    expect(systemdUnit(BASE)).toBe(`[Unit]
Description=Grove worker
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=/opt/homebrew/bin/node /opt/grove/apps/cli/dist/main.js worker run https://controller.internal:6120 --bootstrap-token-file /usr/local/etc/grove/bootstrap-token
Environment="GROVE_HOME=/var/lib/grove"
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`);
  });

  it('quotes and escapes ExecStart so systemd yields exactly the worker arguments', () => {
    const service = unitSections(systemdUnit(NASTY)).Service;
    const [execStart] = settings(service, 'ExecStart');
    expect(parseExecStart(execStart)).toEqual(workerProgramArguments(NASTY));
    expect(execStart).toContain('"https://ctl.example:6120/api%%2Fv1?a=1&b=<2>"');
    expect(execStart).toContain('"/Applications/Grove Tools/main.js"');
    expect(execStart).toContain(`"mac \\"mini\\" $$HOME \\\\ 'o' ;"`);
  });

  it('escapes % in Environment= but leaves $ alone, since systemd does not expand variables there', () => {
    const service = unitSections(systemdUnit({ ...NASTY, environment: { TART_HOME: '/v/$X "q"' } })).Service;
    expect(settings(service, 'Environment')).toEqual(['"GROVE_HOME=/srv/grove 100%%"', '"TART_HOME=/v/$X \\"q\\""']);
  });

  it('runs as User= only when --user is given', () => {
    expect(settings(unitSections(systemdUnit(BASE)).Service, 'User')).toEqual([]);
    expect(settings(unitSections(systemdUnit({ ...BASE, user: 'grove' })).Service, 'User')).toEqual(['grove']);
  });

  it('restarts forever, waits for the network and starts at boot', () => {
    const sections = unitSections(systemdUnit(BASE));
    expect(settings(sections.Unit, 'After')).toEqual(['network-online.target']);
    expect(settings(sections.Unit, 'Wants')).toEqual(['network-online.target']);
    expect(settings(sections.Service, 'Restart')).toEqual(['always']);
    expect(settings(sections.Service, 'RestartSec')).toEqual(['5']);
    expect(settings(sections.Install, 'WantedBy')).toEqual(['multi-user.target']);
  });

  it.each([
    ['plain', 'worker', 'worker'],
    ['a space', 'a b', '"a b"'],
    ['a percent sign', '50%', '50%%'],
    ['a dollar sign', '$HOME', '"$$HOME"'],
    ['a double quote', 'say "hi"', '"say \\"hi\\""'],
    ['a backslash', 'C:\\x', '"C:\\\\x"'],
    ['a lone semicolon', ';', '";"'],
    ['a single quote', "it's", `"it's"`],
    ['an empty string', '', '""'],
  ])('renders an argument with %s', (_case, arg, rendered) => {
    expect(systemdExecArgument(arg)).toBe(rendered);
    expect(parseExecStart(`/bin/x ${rendered}`)).toEqual(['/bin/x', arg]);
  });

  it('refuses environment names systemd would not accept', () => {
    expect(() => systemdEnvironmentAssignment('A B', 'x')).toThrow(/invalid environment variable name/);
    expect(() => systemdUnit({ ...BASE, environment: { '1X': 'y' } })).toThrow(/invalid environment variable name/);
  });
});

describe('the bootstrap token', () => {
  it.each(['darwin', 'linux'] as const)('is never written into the %s service definition, only its file path', (p) => {
    const definition = serviceDefinitionFile(p, { ...BASE, user: 'ci' });
    expect(definition.contents).not.toContain(TOKEN);
    expect(definition.contents).not.toContain('c2VjcmV0LXRva2Vu');
    expect(definition.contents).toContain('--bootstrap-token-file');
    expect(definition.contents).toContain(BASE.bootstrapTokenFile);
    expect(definition.contents).not.toMatch(/--bootstrap-token(-stdin)?[\s<"]/);
    expect(definition.mode).toBe(0o644);
  });

  it('goes into an owner-only file of its own', () => {
    expect(bootstrapTokenFile('/etc/grove/token', `  ${TOKEN}\n`)).toEqual({
      path: '/etc/grove/token',
      contents: `${TOKEN}\n`,
      mode: 0o600,
    });
    expect(() => bootstrapTokenFile('token', TOKEN)).toThrow(/absolute path/);
    expect(() => bootstrapTokenFile('/t', '   ')).toThrow(/non-empty single line/);
    expect(() => bootstrapTokenFile('/t', 'a\nb')).toThrow(/non-empty single line/);
  });
});

describe('service definition placement', () => {
  it('puts the plist among the system daemons and the unit under /etc/systemd/system', () => {
    expect(serviceDefinitionFile('darwin', BASE)).toEqual({
      path: '/Library/LaunchDaemons/dev.grove.worker.plist',
      contents: launchdPlist(BASE),
      mode: 0o644,
    });
    expect(serviceDefinitionFile('linux', BASE)).toEqual({
      path: '/etc/systemd/system/grove-worker.service',
      contents: systemdUnit(BASE),
      mode: 0o644,
    });
  });
});

describe('install and uninstall commands', () => {
  it('uses launchctl bootstrap/bootout in the system domain on macOS', () => {
    expect(serviceCommands('darwin')).toEqual({
      install: [
        ['launchctl', 'enable', 'system/dev.grove.worker'],
        ['launchctl', 'bootstrap', 'system', '/Library/LaunchDaemons/dev.grove.worker.plist'],
      ],
      uninstall: [['launchctl', 'bootout', 'system/dev.grove.worker']],
      afterRemoval: [],
    });
  });

  it('reloads systemd and enables the unit now on Linux', () => {
    expect(serviceCommands('linux')).toEqual({
      install: [
        ['systemctl', 'daemon-reload'],
        ['systemctl', 'enable', '--now', 'grove-worker.service'],
      ],
      uninstall: [['systemctl', 'disable', '--now', 'grove-worker.service']],
      afterRemoval: [['systemctl', 'daemon-reload']],
    });
  });
});

describe('xmlEscape', () => {
  it('escapes the five XML metacharacters, ampersand first', () => {
    expect(xmlEscape(`a&b<c>d"e'f &amp;`)).toBe('a&amp;b&lt;c&gt;d&quot;e&apos;f &amp;amp;');
  });
});
