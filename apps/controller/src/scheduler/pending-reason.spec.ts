import { NO_WORKER_REASON, pendingReason, type Refusal } from './pending-reason';

const refusals = (count: number, cause: string, prefix = 'w'): Refusal[] =>
  Array.from({ length: count }, (_, i) => ({ worker: `${prefix}-${i}`, cause }));

describe('pending reason', () => {
  it('counts the workers by cause, most frequent first, and names a worker that is alone with its cause', () => {
    expect(
      pendingReason([
        ...refusals(20, 'not enough org.cirruslabs.tart-vms'),
        ...refusals(480, 'lacks label gpu=yes', 'cpu'),
        { worker: 'mac-7', cause: 'scheduling paused' },
      ]),
    ).toBe(
      'waiting for a worker: 480 workers: lacks label gpu=yes; 20 workers: not enough org.cirruslabs.tart-vms; ' +
        'mac-7: scheduling paused',
    );
  });

  it('reads as one refusal per worker in a small cluster', () => {
    expect(pendingReason([{ worker: 'w', cause: 'offline' }])).toBe('waiting for a worker: w: offline');
    expect(
      pendingReason([
        { worker: 'b', cause: 'offline' },
        { worker: 'a', cause: 'scheduling paused' },
      ]),
    ).toBe('waiting for a worker: a: scheduling paused; b: offline');
    expect(pendingReason([])).toBe(NO_WORKER_REASON);
  });

  it('stays a few hundred characters with 500 workers that each refuse for a cause of their own', () => {
    const many = Array.from({ length: 500 }, (_, i) => ({
      worker: `worker-with-a-rather-long-name-${i}`,
      cause: `lacks labels ${'k'.repeat(60)}=${i}, zone=${'z'.repeat(60)}`,
    }));
    const reason = pendingReason(many);
    expect(reason.length).toBeLessThanOrEqual(400);
    expect(reason).toMatch(/^waiting for a worker: worker-with-a-rather-long-name-0: lacks labels k+=0, zone=z+…; /);
    expect(reason).toMatch(/; \d+ more workers: \d+ other reasons$/);
  });

  it('names four causes rather than summing up one', () => {
    const four = ['a', 'b', 'c', 'd'].map((w) => ({ worker: w, cause: `cause ${w}` }));
    expect(pendingReason(four)).toBe('waiting for a worker: a: cause a; b: cause b; c: cause c; d: cause d');
  });

  it('cuts an overlong text between code points, never inside one', () => {
    const reason = pendingReason([{ worker: 'w', cause: `lacks label emoji=${'😀'.repeat(200)}` }]);
    expect(reason.endsWith('…')).toBe(true);
    expect(reason).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(Array.from(reason).length).toBeLessThanOrEqual(400);
  });

  it('is the same text for the same refusals in any order, so an unchanged situation rewrites nothing', () => {
    const list = [...refusals(3, 'offline'), ...refusals(2, 'not enough gpu', 'g')];
    expect(pendingReason([...list].reverse())).toBe(pendingReason(list));
  });
});
