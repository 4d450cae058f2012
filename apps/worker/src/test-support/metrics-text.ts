/**
 * The value of one sample in a Prometheus text exposition, as a scraper reads it: `name{label="value",…} number`, the
 * labels given matching exactly (their order aside); undefined when there is no such sample.
 */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) {
      continue;
    }
    const got = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]\w*=")/)
      .filter((pair) => pair !== '')
      .sort()
      .join(',');
    if (got === wanted) {
      return Number(match[3]);
    }
  }
  return undefined;
}
