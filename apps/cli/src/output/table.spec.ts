import type { Vm, Worker } from '@grove/resources';
import { renderClusterSettings, renderMachine, renderVmTable, renderWorkerTable } from './render';
import { formatAge, formatKeyValues, formatTable } from './table';

const now = new Date('2026-01-01T12:00:00Z');

describe('formatAge', () => {
  it.each([
    ['2026-01-01T11:59:55Z', '5s ago'],
    ['2026-01-01T11:59:00.500Z', '59s ago'],
    ['2026-01-01T11:57:00Z', '3m ago'],
    ['2026-01-01T10:00:00Z', '2h ago'],
    ['2025-12-28T12:00:00Z', '4d ago'],
    ['2026-01-01T12:00:30Z', '0s ago'],
    ['0001-01-01T00:00:00Z', 'never'],
    ['not a time', 'never'],
    [undefined, 'never'],
  ])('%s → %s', (timestamp, expected) => {
    expect(formatAge(timestamp, now)).toBe(expected);
  });
});

describe('formatTable', () => {
  it('pads columns to the widest cell with two spaces between and no trailing spaces', () => {
    expect(
      formatTable(
        ['NAME', 'URL', 'DEFAULT'],
        [
          ['default', 'https://a:6120', '*'],
          ['lab', 'http://b:1', ''],
        ],
      ),
    ).toBe('NAME     URL             DEFAULT\n' + 'default  https://a:6120  *\n' + 'lab      http://b:1\n');
  });

  it('prints only the header for no rows', () => {
    expect(formatTable(['A', 'B'], [])).toBe('A  B\n');
  });

  it('aligns key/value pairs', () => {
    expect(
      formatKeyValues([
        ['Name', 'a'],
        ['Status message', '-'],
      ]),
    ).toBe('Name:            a\nStatus message:  -\n');
  });
});

describe('resource tables', () => {
  it('lists VMs with age, restart policy and count, and a dash for no worker', () => {
    const vms = [
      {
        name: 'a',
        createdAt: '2026-01-01T11:59:50Z',
        image: 'img:1',
        status: 'running',
        restart_policy: 'OnFailure',
        restart_count: 2,
        worker: 'mac-1',
      },
      {
        name: 'bb',
        createdAt: '2026-01-01T11:00:00Z',
        image: 'img:2',
        status: 'pending',
        restart_policy: 'Never',
        restart_count: 0,
        worker: '',
      },
    ] as Vm[];
    expect(renderVmTable(vms, now)).toBe(
      'NAME  CREATED  IMAGE  STATUS   RESTART-POLICY          WORKER\n' +
        'a     10s ago  img:1  running  OnFailure (2 restarts)  mac-1\n' +
        'bb    1h ago   img:2  pending  Never (0 restarts)      -\n',
    );
  });

  it('lists workers with last-seen age, the pause flag and the replica holding the session', () => {
    const at = '2026-01-01T11:59:00Z';
    const workers = [
      { name: 'mac-1', last_seen: '2026-01-01T11:59:58Z', scheduling_paused: true },
      {
        name: 'mac-2',
        last_seen: at,
        scheduling_paused: false,
        session: { replica: 'ctl-a', connected_at: at, up: true },
      },
      {
        name: 'mac-3',
        last_seen: at,
        scheduling_paused: false,
        session: { replica: 'ctl-b', connected_at: at, up: false },
      },
    ] as Worker[];
    expect(renderWorkerTable(workers, now)).toBe(
      'NAME   LAST-SEEN  SCHEDULING-PAUSED  SESSION\n' +
        'mac-1  2s ago     true               -\n' +
        'mac-2  1m ago     false              up on ctl-a\n' +
        'mac-3  1m ago     false              lost (ctl-b)\n',
    );
  });

  it('shows cluster settings with and without policies', () => {
    expect(renderClusterSettings({ hostDirPolicies: [], schedulerProfile: 'optimize-utilization' })).toBe(
      'Scheduler profile:  optimize-utilization\nHost directory policies: none (VMs cannot mount host directories)\n',
    );
    expect(
      renderClusterSettings({
        hostDirPolicies: [{ pathPrefix: '/src', ro: true }, { pathPrefix: '/cache' }],
        schedulerProfile: 'distribute-load',
      }),
    ).toBe(
      'Scheduler profile:  distribute-load\nHost directory policies:\n  PATH-PREFIX  READ-ONLY\n  /src         true\n  /cache       false\n',
    );
  });

  it('prints machine output as pretty JSON or YAML', () => {
    expect(renderMachine({ a: [1] }, 'json')).toBe('{\n  "a": [\n    1\n  ]\n}\n');
    expect(renderMachine({ a: [1] }, 'yaml')).toBe('a:\n  - 1\n');
  });
});
