import type { ClusterStatus } from '@grove/resources';
import { cli, json, useFakeController } from '../test-support/fake-controller';

/** What a controller answers to `GET /v1/status` (the CLI's clock reads 2026-01-01T12:00:00Z). */
const STATUS: ClusterStatus = {
  replica: 'ctl-a',
  workers: [
    {
      name: 'mac-1',
      state: 'online',
      session: 'up',
      sessionReplica: 'ctl-a',
      lastSeen: '2026-01-01T11:59:55Z',
      vms: 2,
      resources: {
        'org.cirruslabs.tart-vms': { used: 2, total: 2 },
        'org.cirruslabs.memory-mib': { used: 16384, total: 32768 },
      },
    },
    {
      name: 'mac-2',
      state: 'offline',
      session: 'lost',
      sessionReplica: 'ctl-b',
      lastSeen: '2026-01-01T11:50:00Z',
      vms: 0,
      resources: { 'org.cirruslabs.tart-vms': { used: 0, total: 2 }, gpu: { used: 0, total: 1 } },
    },
  ],
  vms: { pending: 3, running: 1, failed: 1, total: 5 },
  pending: {
    count: 3,
    starting: 1,
    reasons: [
      { reason: 'no worker has capacity: mac-1 lacks org.cirruslabs.tart-vms', count: 1 },
      { reason: '', count: 1 },
    ],
    oldest: [
      { name: 'ci-1', createdAt: '2026-01-01T11:58:00Z', worker: 'mac-1', status_message: '' },
      {
        name: 'ci-2',
        createdAt: '2026-01-01T11:59:00Z',
        status_message: 'no worker has capacity: mac-1 lacks org.cirruslabs.tart-vms',
      },
      { name: 'ci-3', createdAt: '2026-01-01T11:59:59Z', status_message: '' },
    ],
  },
  sessions: { replica: 'ctl-a', active: { 'port-forward': 2, exec: 1, ssh: 0, vnc: 1 } },
};

describe('grove status', () => {
  const t = useFakeController();

  it('shows workers with capacity, VMs by status, pending VMs and why, and sessions on one screen', async () => {
    t.fake.route = (_req, res) => json(res, 200, STATUS);

    const result = await cli(t.env, 'status');

    expect(t.fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/status']);
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'Workers: 2 (1 online, 0 paused, 1 offline)',
        'NAME   STATE    SESSION       VMS  USED/TOTAL                            LAST-SEEN',
        'mac-1  online   up on ctl-a   2    memory-mib 16384/32768, tart-vms 2/2  5s ago',
        'mac-2  offline  lost (ctl-b)  0    gpu 0/1, tart-vms 0/2                 10m ago',
        '',
        'VMs: 5 (1 running, 3 pending, 1 failed)',
        '',
        'Pending VMs: 3 (2 waiting for a worker, 1 placed and not running yet)',
        'WAITING  REASON',
        '1        no worker has capacity: mac-1 lacks org.cirruslabs.tart-vms',
        '1        (not looked at by the scheduler yet)',
        '',
        'Pending VMs by age:',
        'NAME  CREATED  WORKER  WHY',
        'ci-1  2m ago   mac-1   waiting for the worker to run it',
        'ci-2  1m ago   -       no worker has capacity: mac-1 lacks org.cirruslabs.tart-vms',
        'ci-3  1s ago   -       (not looked at by the scheduler yet)',
        '',
        'Sessions now on ctl-a: port-forward 2, exec 1, ssh 0, vnc 1 (4 sessions)',
        '',
      ].join('\n'),
    });
  });

  it('prints the controller’s answer as it is with -o json', async () => {
    t.fake.route = (_req, res) => json(res, 200, STATUS);

    const result = await cli(t.env, 'status', '-o', 'json');

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(STATUS);
  });

  it('says so when nothing is pending and no worker is registered', async () => {
    t.fake.route = (_req, res) =>
      json(res, 200, {
        ...STATUS,
        workers: [],
        vms: { pending: 0, running: 0, failed: 0, total: 0 },
        pending: { count: 0, starting: 0, reasons: [], oldest: [] },
        sessions: { replica: 'ctl-a', active: { 'port-forward': 0, exec: 0, ssh: 0, vnc: 0 } },
      });

    expect((await cli(t.env, 'status')).stdout).toBe(
      [
        'Workers: 0 (0 online, 0 paused, 0 offline)',
        '',
        'VMs: 0 (0 running, 0 pending, 0 failed)',
        '',
        'Pending VMs: none',
        '',
        'Sessions now on ctl-a: port-forward 0, exec 0, ssh 0, vnc 0 (0 sessions)',
        '',
      ].join('\n'),
    );
  });

  it('explains a controller without GET /v1/status', async () => {
    t.fake.route = (_req, res) => json(res, 404, { message: 'Not Found' });

    const result = await cli(t.env, 'status');

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: ${t.fake.url} has no GET /v1/status: it is an Orchard controller or an older Grove one ` +
        '(use grove list workers and grove list vms)\n',
    );
  });
});
