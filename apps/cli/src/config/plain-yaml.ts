/**
 * A reader for the one shape of YAML that `grove` writes to config.yml: nested block mappings, two spaces per level,
 * whose keys and values are plain (unquoted) strings, e.g.
 *
 *     default-context: dev
 *     contexts:
 *       dev:
 *         url: http://127.0.0.1:6120
 *         serviceAccountToken: 3fa9…
 *
 * Why: every command that talks to a controller reads config.yml, and the `yaml` package costs ~30 ms of module loading
 * (72 modules), a fifth of such a command's run (docs/benchmarks.md, "CLI start-up"). This reader accepts only text it
 * is certain to read exactly as `yaml`'s `parse` does and returns undefined for anything else (comments, quotes, flow
 * collections, other indentation, numbers, booleans, null, duplicate keys...), which the caller then hands to `yaml`.
 * So a hand-edited file is still read in full, and its errors still come from `yaml`.
 */

/**
 * A scalar with no quoting, escaping or special meaning: it starts with no YAML indicator and holds no space nor `#`
 * (brackets are plain inside a scalar of a block mapping: `http://[::1]:6120`).
 */
const PLAIN = /^[A-Za-z0-9_/][A-Za-z0-9_./+=@:%~[\]-]*$/;

/**
 * Plain scalars that YAML 1.2's core schema (`yaml`'s default) reads as null, a boolean or a number, not as a string.
 * The others it could read so start with `~`, `.`, `+` or `-`, which PLAIN rules out.
 */
const NOT_A_STRING =
  /^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE|0o[0-7]+|0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)$/;

/** `KEY:` (a nested mapping follows) or `KEY: VALUE`, indented by spaces. A key holds no `:`, so the split is certain. */
const LINE = /^( *)([^:\s]+):(?: (\S+))?$/;

function isPlainString(text: string): boolean {
  // A trailing ":" would make the scalar a mapping key (`a: b:` is an error in YAML).
  return PLAIN.test(text) && !NOT_A_STRING.test(text) && !text.endsWith(':');
}

type Mapping = Record<string, unknown>;

/**
 * Reads `text` if it is nested block mappings of plain strings (see above), as `yaml`'s `parse` would; undefined when
 * it is anything else, including empty.
 */
export function parsePlainYamlMapping(text: string): Mapping | undefined {
  const lines = text.split('\n');
  if (lines.at(-1) === '') {
    lines.pop();
  }
  if (lines.length === 0) {
    return undefined;
  }
  const root: Mapping = {};
  // The mappings that enclose the current line, innermost last, with the indentation of their keys.
  const open: Array<{ indent: number; mapping: Mapping }> = [{ indent: 0, mapping: root }];
  // After `KEY:`, the next line must be the first key of the nested mapping, two spaces further in.
  let expectNested = false;
  for (const line of lines) {
    const match = LINE.exec(line);
    if (!match) {
      return undefined;
    }
    const [, spaces, key, value] = match;
    const indent = spaces.length;
    if (expectNested) {
      if (indent !== open[open.length - 1].indent) {
        return undefined;
      }
      expectNested = false;
    } else {
      while (open.length > 1 && indent < open[open.length - 1].indent) {
        open.pop();
      }
      if (indent !== open[open.length - 1].indent) {
        return undefined;
      }
    }
    const { mapping } = open[open.length - 1];
    if (!isPlainString(key) || key === '__proto__' || Object.hasOwn(mapping, key)) {
      return undefined;
    }
    if (value === undefined) {
      const nested: Mapping = {};
      mapping[key] = nested;
      open.push({ indent: indent + 2, mapping: nested });
      expectNested = true;
    } else if (isPlainString(value)) {
      mapping[key] = value;
    } else {
      return undefined;
    }
  }
  // `KEY:` on the last line is a null value, not an empty mapping: leave that to `yaml`.
  return expectNested ? undefined : root;
}
