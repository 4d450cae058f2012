import { urlOpener } from './open-url';

describe('urlOpener', () => {
  const onlyIn = (dir: string) => (path: string) => path === `${dir}/xdg-open`;

  it('uses open on macOS', () => {
    expect(urlOpener('darwin', {}, () => false)).toBe('open');
  });

  it('uses xdg-open from PATH elsewhere', () => {
    expect(urlOpener('linux', { PATH: '/nope:/usr/bin' }, onlyIn('/usr/bin'))).toBe('/usr/bin/xdg-open');
  });

  it('has nothing without xdg-open on PATH, or on Windows', () => {
    expect(urlOpener('linux', { PATH: '/bin:/usr/bin' }, () => false)).toBeUndefined();
    expect(urlOpener('linux', {}, onlyIn(''))).toBeUndefined();
    expect(urlOpener('win32', { PATH: '/usr/bin' }, () => true)).toBeUndefined();
  });
});
