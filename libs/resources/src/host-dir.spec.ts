import {
  formatHostDir,
  hostDirAllowed,
  hostDirPolicyAllows,
  parseHostDir,
  parseHostDirPolicy,
  type HostDir,
  type HostDirPolicy,
} from './index';

describe('hostDirPolicyAllows (orchard.md §2.6)', () => {
  it.each<[string, HostDirPolicy, Pick<HostDir, 'path' | 'ro'>, boolean]>([
    ['the prefix itself', { pathPrefix: '/a/src' }, { path: '/a/src' }, true],
    ['a path below the prefix', { pathPrefix: '/a/src' }, { path: '/a/src/project' }, true],
    ['a sibling sharing the string prefix (plain string match)', { pathPrefix: '/a/src' }, { path: '/a/src2' }, true],
    ['a path outside the prefix', { pathPrefix: '/a/src' }, { path: '/a/other' }, false],
    ['a parent of the prefix', { pathPrefix: '/a/src' }, { path: '/a' }, false],
    ['a relative path', { pathPrefix: '/a/src' }, { path: 'a/src' }, false],
    ['prefix with a trailing slash, path without', { pathPrefix: '/a/src/' }, { path: '/a/src' }, true],
    ['path with a trailing slash, prefix without', { pathPrefix: '/a/src' }, { path: '/a/src/' }, true],
    ['both with trailing slashes', { pathPrefix: '/a/src/' }, { path: '/a/src/x/' }, true],
    ['a trailing slash on the prefix still allows siblings', { pathPrefix: '/a/src/' }, { path: '/a/src2' }, true],
    ['the root prefix allows everything', { pathPrefix: '/' }, { path: '/etc' }, true],
    ['".." below the prefix', { pathPrefix: '/a/src' }, { path: '/a/src/../../etc' }, false],
    ['".." anywhere in the path', { pathPrefix: '/' }, { path: '/a/b..c' }, false],
    ['".." even under a root policy, read-only', { pathPrefix: '/', ro: true }, { path: '/..', ro: true }, false],
    ['a read-only policy refuses a read-write mount', { pathPrefix: '/a', ro: true }, { path: '/a/b' }, false],
    [
      'a read-only policy refuses an explicit ro:false',
      { pathPrefix: '/a', ro: true },
      { path: '/a/b', ro: false },
      false,
    ],
    ['a read-only policy admits a read-only mount', { pathPrefix: '/a', ro: true }, { path: '/a/b', ro: true }, true],
    ['a read-write policy admits a read-only mount', { pathPrefix: '/a' }, { path: '/a/b', ro: true }, true],
    ['a read-write policy admits a read-write mount', { pathPrefix: '/a', ro: false }, { path: '/a/b' }, true],
    [
      'an https prefix admits archives under it',
      { pathPrefix: 'https://example.test/archives/' },
      { path: 'https://example.test/archives/project.tar.gz' },
      true,
    ],
    [
      'an https prefix refuses another host',
      { pathPrefix: 'https://example.test/' },
      { path: 'https://evil.test/project.tar.gz' },
      false,
    ],
    [
      'an https prefix refuses plain http',
      { pathPrefix: 'https://example.test/' },
      { path: 'http://example.test/project.tar.gz' },
      false,
    ],
    ['the match is case-sensitive', { pathPrefix: '/Users/ci' }, { path: '/users/ci/src' }, false],
  ])('%s', (_case, policy, dir, expected) => {
    expect(hostDirPolicyAllows(policy, dir)).toBe(expected);
  });
});

describe('hostDirAllowed', () => {
  const policies: HostDirPolicy[] = [{ pathPrefix: '/cache', ro: true }, { pathPrefix: '/work' }];

  it.each<[string, readonly HostDirPolicy[], Pick<HostDir, 'path' | 'ro'>, boolean]>([
    ['no policies allow nothing', [], { path: '/work/x' }, false],
    ['no policies allow nothing, not even read-only', [], { path: '/work/x', ro: true }, false],
    ['the read-write policy admits its path', policies, { path: '/work/x' }, true],
    ['the read-only policy admits a read-only mount', policies, { path: '/cache/x', ro: true }, true],
    ['the read-only policy refuses a read-write mount', policies, { path: '/cache/x' }, false],
    ['a path under no policy', policies, { path: '/etc', ro: true }, false],
    ['".." under an allowed prefix', policies, { path: '/work/../etc' }, false],
    [
      'a later policy may admit what an earlier one refuses',
      [{ pathPrefix: '/a', ro: true }, { pathPrefix: '/a/b' }],
      { path: '/a/b/c' },
      true,
    ],
  ])('%s', (_case, list, dir, expected) => {
    expect(hostDirAllowed(list, dir)).toBe(expected);
  });
});

describe('parseHostDirPolicy (CLI form prefix[:ro])', () => {
  it.each<[string, HostDirPolicy]>([
    ['/a/src', { pathPrefix: '/a/src', ro: false }],
    ['/a/src:ro', { pathPrefix: '/a/src', ro: true }],
    ['/a/src/', { pathPrefix: '/a/src/', ro: false }],
    ['https://example.test/archives/', { pathPrefix: 'https://example.test/archives/', ro: false }],
    ['https://example.test/archives/:ro', { pathPrefix: 'https://example.test/archives/', ro: true }],
    ['http://example.test:8080/x', { pathPrefix: 'http://example.test:8080/x', ro: false }],
    ['/a:rw', { pathPrefix: '/a:rw', ro: false }],
  ])('parses %j', (text, expected) => {
    expect(parseHostDirPolicy(text)).toEqual(expected);
  });

  it.each(['', ':ro'])('refuses %j with an empty prefix', (text) => {
    expect(() => parseHostDirPolicy(text)).toThrow(`invalid host directory policy "${text}": the path prefix is empty`);
  });

  it('gives policies that behave as the CLI text says', () => {
    const policy = parseHostDirPolicy('/cache:ro');
    expect(hostDirPolicyAllows(policy, { path: '/cache/x', ro: true })).toBe(true);
    expect(hostDirPolicyAllows(policy, { path: '/cache/x', ro: false })).toBe(false);
  });
});

describe('parseHostDir / formatHostDir (CLI form name:path[:ro])', () => {
  it.each<[string, HostDir]>([
    ['src:/a/src', { name: 'src', path: '/a/src', ro: false }],
    ['src:/a/src:ro', { name: 'src', path: '/a/src', ro: true }],
    ['src:/a/src/', { name: 'src', path: '/a/src/', ro: false }],
    ['arc:https://example.test/p.tar.gz', { name: 'arc', path: 'https://example.test/p.tar.gz', ro: false }],
    ['arc:https://example.test/p.tar.gz:ro', { name: 'arc', path: 'https://example.test/p.tar.gz', ro: true }],
    ['arc:http://example.test:8080/p.tar.gz', { name: 'arc', path: 'http://example.test:8080/p.tar.gz', ro: false }],
    ['n:/a:b', { name: 'n', path: '/a:b', ro: false }],
    ['n:/a:b:ro', { name: 'n', path: '/a:b', ro: true }],
    ['n:relative/dir', { name: 'n', path: 'relative/dir', ro: false }],
    ['n:/dir:rw', { name: 'n', path: '/dir:rw', ro: false }],
    ['n:/dir:RO', { name: 'n', path: '/dir:RO', ro: false }],
  ])('parses %j', (text, expected) => {
    expect(parseHostDir(text)).toEqual(expected);
  });

  it.each([
    ['no colon', 'src', 'invalid host directory "src": expected name:path[:ro]'],
    ['an empty name', ':/a/src', 'invalid host directory ":/a/src": expected name:path[:ro]'],
    ['an empty string', '', 'invalid host directory "": expected name:path[:ro]'],
    ['an empty path', 'src:', 'invalid host directory "src:": the path is empty'],
    ['only ":ro" as the path', 'src::ro', 'invalid host directory "src::ro": the path is empty'],
    // ":ro" is a flag, never the path: a forgotten path must not become a read-write mount of "./ro".
    ['a name and ":ro" without a path', 'cache:ro', 'invalid host directory "cache:ro": expected name:path[:ro]'],
    ['only ":ro"', ':ro', 'invalid host directory ":ro": expected name:path[:ro]'],
  ])('refuses %s', (_case, text, message) => {
    expect(() => parseHostDir(text)).toThrow(message);
  });

  it.each<[HostDir, string]>([
    [{ name: 'src', path: '/a/src' }, 'src:/a/src'],
    [{ name: 'src', path: '/a/src', ro: false }, 'src:/a/src'],
    [{ name: 'src', path: '/a/src', ro: true }, 'src:/a/src:ro'],
    [{ name: 'arc', path: 'https://example.test/p.tar.gz', ro: true }, 'arc:https://example.test/p.tar.gz:ro'],
  ])('formats %j as %j', (dir, text) => {
    expect(formatHostDir(dir)).toBe(text);
  });

  it.each(['src:/a/src', 'src:/a/src:ro', 'arc:https://example.test/p.tar.gz:ro', 'n:/a:b'])(
    'round-trips %j',
    (text) => {
      expect(formatHostDir(parseHostDir(text))).toBe(text);
    },
  );
});
