/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (format 0.0.4), comments left out. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!match) {
      throw new Error(`not a sample line: ${line}`);
    }
    samples.push({ name: match[1], labels: parseLabels(match[2] ?? ''), value: parseValue(match[3]) });
  }
  return samples;
}

function parseValue(text: string): number {
  return text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    labels[match[1]] = match[2].replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
  }
  if (pattern.lastIndex !== text.length && text.length > 0 && Object.keys(labels).length === 0) {
    throw new Error(`bad labels: {${text}}`);
  }
  return labels;
}

/**
 * The value of the one sample named `name` whose labels are exactly `labels` (a label with an empty value is the same
 * as none, as Prometheus reads it); undefined when there is none.
 */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = withoutEmpty(labels);
  const found = samples.filter((s) => s.name === name && sameLabels(withoutEmpty(s.labels), wanted));
  if (found.length > 1) {
    throw new Error(`${found.length} samples ${name}${JSON.stringify(labels)}`);
  }
  return found[0]?.value;
}

function withoutEmpty(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
