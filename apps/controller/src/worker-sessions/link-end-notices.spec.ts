import { LinkEndNotices } from './link-end-notices';

describe('LinkEndNotices', () => {
  afterEach(() => jest.useRealTimers());

  it('confirms a FIN whose end the worker announced before it arrived, without probing', async () => {
    const probe = jest.fn(() => Promise.resolve(true));
    const notices = new LinkEndNotices(probe);
    notices.announce('s1');
    await expect(notices.confirm('s1')).resolves.toBe(true);
    expect(probe).not.toHaveBeenCalled();
  });

  it('holds a FIN until its announcement arrives', async () => {
    const probe = jest.fn(() => Promise.resolve(true));
    const notices = new LinkEndNotices(probe);
    let settled: boolean | undefined;
    const confirming = notices.confirm('s1').then((clean) => (settled = clean));
    await Promise.resolve();
    expect(settled).toBeUndefined();
    notices.announce('s2');
    await Promise.resolve();
    expect(settled).toBeUndefined();
    notices.announce('s1');
    await confirming;
    expect(settled).toBe(true);
    expect(probe).not.toHaveBeenCalled();
  });

  it("counts an announcement once: another link's FIN of the same session id is not clean by it", async () => {
    jest.useFakeTimers();
    const notices = new LinkEndNotices(() => Promise.resolve(false));
    notices.announce('s1');
    await expect(notices.confirm('s1')).resolves.toBe(true);
    const again = notices.confirm('s1');
    jest.advanceTimersByTime(2_000);
    await expect(again).resolves.toBe(false);
  });

  it('settles waiting FINs as not clean when the worker session ends (a killed worker announces nothing)', async () => {
    const notices = new LinkEndNotices(() => Promise.resolve(true));
    const waiting = notices.confirm('s1');
    notices.close();
    await expect(waiting).resolves.toBe(false);
    await expect(notices.confirm('s2')).resolves.toBe(false);
  });

  it('probes the worker when no announcement comes within the grace period', async () => {
    jest.useFakeTimers();
    const probe = jest.fn(() => Promise.resolve(true));
    const notices = new LinkEndNotices(probe);
    const confirming = notices.confirm('s1');
    jest.advanceTimersByTime(1_999);
    expect(probe).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    await expect(confirming).resolves.toBe(true);
    expect(probe).toHaveBeenCalledTimes(1);
  });
});
