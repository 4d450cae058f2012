import { randomBytes } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { encodeCertificate } from './connection';
import { serializeConfig, type GroveConfig } from './config-file';
import { parsePlainYamlMapping } from './plain-yaml';

/** What the YAML library makes of `text`, or 'error'. */
function yamlParse(text: string): unknown {
  try {
    return parse(text);
  } catch {
    return 'error';
  }
}

/** A small deterministic PRNG (mulberry32), so that a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('parsePlainYamlMapping', () => {
  it('reads config files as grove writes them, exactly as the YAML library does', () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${randomBytes(600).toString('base64')}\n-----END CERTIFICATE-----\n`;
    const configs: GroveConfig[] = [
      { defaultContext: 'dev', contexts: { dev: { url: 'http://127.0.0.1:6120' } } },
      {
        defaultContext: 'prod',
        contexts: {
          prod: {
            url: 'https://controller.example.com:6120',
            certificate: encodeCertificate(pem),
            serviceAccountName: 'ci:runner-1.pool_a',
            serviceAccountToken: randomBytes(24).toString('base64url'),
          },
          dev: {
            url: 'http://[::1]:6120',
            serviceAccountName: 'bootstrap-admin',
            serviceAccountToken: '3fa9c0de',
          },
        },
      },
    ];
    for (const config of configs) {
      const text = serializeConfig(config);
      expect(parsePlainYamlMapping(text)).toEqual(parse(text));
    }
  });

  it.each([
    ['empty', ''],
    ['a comment', '# contexts\ncontexts:\n  a:\n    url: http://a\n'],
    ['a trailing comment', 'default-context: a # the lab\n'],
    ['a document marker', '---\ndefault-context: a\n'],
    ['quotes', 'contexts:\n  a:\n    serviceAccountToken: "123"\n'],
    ['a number', 'contexts:\n  a:\n    serviceAccountToken: 123\n'],
    ['a hexadecimal number', 'contexts:\n  a:\n    serviceAccountToken: 0x1F\n'],
    ['an exponent', 'contexts:\n  a:\n    serviceAccountToken: 1e3\n'],
    ['a boolean', 'default-context: true\n'],
    ['null', 'default-context: null\n'],
    ['a key without a value', 'default-context:\n'],
    ['an empty flow mapping', 'contexts: {}\n'],
    ['four-space indentation', 'contexts:\n    a:\n        url: http://a\n'],
    ['a tab', 'contexts:\n\ta:\n'],
    ['Windows line ends', 'default-context: a\r\n'],
    ['a duplicate key', 'default-context: a\ndefault-context: b\n'],
    ['__proto__', 'contexts:\n  __proto__:\n    url: http://a\n'],
    ['a value ending with ":"', 'default-context: a:\n'],
    ['a multi-line scalar', 'default-context: a\n  b\n'],
    ['a blank line', 'default-context: a\n\ncontexts:\n  a:\n    url: http://a\n'],
  ])('leaves text with %s to the YAML library', (_what, text) => {
    expect(parsePlainYamlMapping(text)).toBeUndefined();
  });

  it('never reads random mappings differently from the YAML library', () => {
    const next = random(20260523);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    // Mostly plain-looking words (among them numbers, booleans and nulls, which are not strings), some YAML syntax.
    const plain = ['a', 'url', 'http://h:1/p', 'http://[::1]:1', 'a=b+c/d', '_x', '/x', '12:30', 'a~', 'a%20', 'x.y'];
    const typed = ['1', '0o7', '0x1f', '1.5', '1.', '1e3', '1E-3', 'true', 'True', 'FALSE', 'null', 'Null', 'no'];
    const syntax = ['~', '.5', '-1', '+1', 'a:b', 'a:', 'a#b', 'a #b', '"a"', "'a'", '[a]', '{}', '&x', '*x', '!t'];
    const syntax2 = ['|', '>', '%a', '@a', '`a', '-', '- a', '?', 'a b', '__proto__', '<<', 'a,b', 'a]', '', ' '];
    const atom = () => (next() < 0.6 ? pick(plain) : next() < 0.5 ? pick(typed) : pick([...syntax, ...syntax2]));
    let readByFastPath = 0;
    for (let i = 0; i < 5000; i++) {
      const lines: string[] = [];
      let depth = 0;
      let nested = false;
      for (let l = 0, count = 1 + Math.floor(next() * 6); l < count; l++) {
        depth = nested && next() < 0.9 ? depth + 1 : Math.floor(next() * (depth + 1));
        const indent = next() < 0.05 ? pick([' ', '\t', '   ']) : '  '.repeat(depth);
        nested = next() < 0.3;
        lines.push(nested ? `${indent}${atom()}:` : `${indent}${atom()}: ${atom()}`);
      }
      const text = `${lines.join('\n')}${next() < 0.8 ? '\n' : ''}`;
      const fast = parsePlainYamlMapping(text);
      if (fast !== undefined) {
        readByFastPath++;
        expect({ text, read: fast }).toEqual({ text, read: yamlParse(text) });
      }
    }
    // The property is not vacuous: a fair share of the random texts took the fast path.
    expect(readByFastPath).toBeGreaterThan(200);
  });

  it('reads nested mappings the YAML library wrote, whatever their plain keys and values', () => {
    const next = random(7);
    const alphabet = 'abcxyzABZ0189_./+=@:%~[]-';
    const word = () =>
      Array.from({ length: 1 + Math.floor(next() * 6) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const value: Record<string, Record<string, string>> = {};
      for (let k = 0; k < 3; k++) {
        value[word()] = { [word()]: word(), [word()]: word() };
      }
      const text = stringify(value);
      const fast = parsePlainYamlMapping(text);
      if (fast !== undefined) {
        expect({ text, read: fast }).toEqual({ text, read: parse(text) });
      }
    }
  });
});
