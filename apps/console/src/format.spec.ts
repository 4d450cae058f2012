import { describe, expect, it } from '@jest/globals';
import { age, labelPairs, parsePairs } from './format';

describe('age', () => {
  const at = Date.parse('2026-01-02T03:04:05Z');

  it.each([
    ['2026-01-02T03:04:00Z', '5s'],
    ['2026-01-02T03:01:05Z', '3m'],
    ['2026-01-02T01:04:05Z', '2h'],
    ['2025-12-29T03:04:05Z', '4d'],
    ['2026-01-02T03:05:00Z', '0s'],
  ])('of %s is %s', (since, text) => {
    expect(age(since, at)).toBe(text);
  });

  it('takes Unix seconds (events) and says "-" for no time or Go\'s zero time', () => {
    expect(age(at / 1000 - 90, at)).toBe('1m');
    expect(age(undefined, at)).toBe('-');
    expect(age('', at)).toBe('-');
    expect(age('not a time', at)).toBe('-');
  });
});

describe('label pairs', () => {
  it('parses pairs separated by commas or new lines, trimming spaces', () => {
    expect(parsePairs('Labels', ' team=ios, pool = m2\nos=sequoia\n\n')).toEqual({
      team: 'ios',
      pool: 'm2',
      os: 'sequoia',
    });
    expect(parsePairs('Labels', 'url=a=b')).toEqual({ url: 'a=b' });
    expect(parsePairs('Labels', '')).toEqual({});
  });

  it('names the field and the entry that is not KEY=VALUE', () => {
    expect(() => parsePairs('Labels', 'team=ios,oops')).toThrow('Labels: "oops" is not KEY=VALUE');
    expect(() => parsePairs('Resources', '=3')).toThrow('Resources: "=3" is not KEY=VALUE');
  });

  it('writes a label map back as pairs', () => {
    expect(labelPairs({ team: 'ios', flag: '' })).toEqual(['team=ios', 'flag']);
    expect(labelPairs(undefined)).toEqual([]);
  });
});
