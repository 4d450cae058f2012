import { describe, expect, it } from '@jest/globals';
import { ApiError } from '../api';
import type { Worker } from '../types';
import { fromApiError, vmIsUp, vmNotRunning, workerObstacle } from './reachability';

const NOW = new Date('2026-12-05T20:00:00Z');

function worker(fields: Partial<Worker>): Worker {
  return {
    name: 'mac-1',
    last_seen: '2026-12-05T19:59:50Z',
    session: { replica: 'c1', connected_at: '2026-12-05T19:00:00Z', up: true },
    ...fields,
  } as Worker;
}

describe('reachability', () => {
  it('says why a VM is not running', () => {
    expect(
      vmNotRunning({ name: 'v1', status: 'pending', powerState: 'running', status_message: 'pulling the image' }),
    ).toBe('VM v1 is not running: it is pending (pulling the image).');
    expect(vmNotRunning({ name: 'v1', status: 'failed', powerState: 'running', status_message: '' })).toBe(
      'VM v1 is not running: it is failed.',
    );
  });

  it('takes a stopped or suspended VM, whose status stays running, as not running', () => {
    expect(vmIsUp({ status: 'running', powerState: 'running' })).toBe(true);
    expect(vmIsUp({ status: 'running', powerState: 'stopped' })).toBe(false);
    expect(vmIsUp({ status: 'running', powerState: 'suspended' })).toBe(false);
    expect(vmIsUp({ status: 'pending', powerState: 'running' })).toBe(false);
    expect(vmNotRunning({ name: 'v1', status: 'running', powerState: 'stopped', status_message: 'VM stopped' })).toBe(
      'VM v1 is not running: it is stopped (VM stopped).',
    );
  });

  it('finds an unreachable worker: no session, a gone replica, or unseen for too long', () => {
    expect(workerObstacle(worker({}), NOW)).toBeUndefined();
    expect(workerObstacle(worker({ session: undefined }), NOW)?.message).toMatch(/^The worker mac-1 is unreachable/);
    expect(workerObstacle(worker({ session: { replica: 'c1', connected_at: '', up: false } }), NOW)?.message).toMatch(
      /replica that held its connection is gone/,
    );
    expect(workerObstacle(worker({ last_seen: '2026-12-05T19:50:00Z' }), NOW)).toMatchObject({ final: false });
  });

  it('turns refused REST calls into messages, final unless retrying may help', () => {
    expect(fromApiError(new ApiError('x', 0, undefined), 'VM v1')).toEqual({
      message: 'The controller is unreachable.',
      final: false,
    });
    expect(fromApiError(new ApiError('VM "v1" not found', 404, undefined), 'VM v1')).toEqual({
      message: 'VM v1 does not exist.',
      final: true,
    });
    expect(fromApiError(new ApiError('cannot reach worker', 503, undefined), 'VM v1')).toEqual({
      message: 'cannot reach worker',
      final: false,
    });
  });
});
