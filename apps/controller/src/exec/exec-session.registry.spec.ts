import { DomainError, DomainErrorCode } from '../common/domain-error';
import { parseExecQuery } from './exec-query';
import { ExecSession } from './exec-session';
import { ExecSessionRegistry } from './exec-session.registry';
import { FakeExec } from './test-support/fake-exec';

const spec = (query: string) => parseExecQuery(new URLSearchParams(query)).spec;

function newSession(): ExecSession {
  return new ExecSession(new FakeExec(), { id: 's', interactive: false, tty: false, retentionMs: 1000 });
}

async function codeOf(promise: Promise<unknown>): Promise<[DomainErrorCode, string]> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return [(err as DomainError).code, (err as DomainError).message];
  }
  throw new Error('resolved');
}

describe('reconnectable exec session registry', () => {
  it('shares one creation between concurrent creators', async () => {
    const registry = new ExecSessionRegistry();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const create = jest.fn(async () => {
      await gate;
      return newSession();
    });
    const all = Array.from({ length: 16 }, () => registry.getOrCreate('vm', 's', spec('command=sleep+1'), create));
    release();
    const sessions = await Promise.all(all);
    expect(create).toHaveBeenCalledTimes(1);
    expect(new Set(sessions).size).toBe(1);
  });

  it('answers 409 to different options, 404 to attaching to a missing session', async () => {
    const registry = new ExecSessionRegistry();
    const s = await registry.getOrCreate('vm', 's', spec('command=a'), () => Promise.resolve(newSession()));
    expect(
      await codeOf(registry.getOrCreate('vm', 's', spec('command=b'), () => Promise.resolve(newSession()))),
    ).toEqual([DomainErrorCode.Conflict, 'exec session "s" is already running with different options']);
    expect(await registry.getOrCreate('vm', 's', undefined, () => Promise.resolve(newSession()))).toBe(s);
    expect(await registry.getOrCreate('vm', 's', spec('command=a'), () => Promise.resolve(newSession()))).toBe(s);
    expect(await codeOf(registry.getOrCreate('other-vm', 's', undefined, () => Promise.resolve(newSession())))).toEqual(
      [DomainErrorCode.NotFound, 'exec session "s" does not exist'],
    );
  });

  it('forgets a failed creation and a removed session', async () => {
    const registry = new ExecSessionRegistry();
    await expect(
      registry.getOrCreate('vm', 's', spec('command=a'), () => Promise.reject(new Error('no worker'))),
    ).rejects.toThrow('no worker');
    await Promise.resolve();
    expect(registry.size).toBe(0);
    const s = await registry.getOrCreate('vm', 's', spec('command=a'), () => Promise.resolve(newSession()));
    registry.remove('vm', 's', newSession());
    expect(registry.size).toBe(1);
    registry.remove('vm', 's', s);
    expect(registry.size).toBe(0);
  });
});
