import { RuntimeError, type OnDiskVm } from '../vm-runtime';

/** A property of a JSON object matched case-insensitively, as Go's encoding/json decodes Orchard's structs. */
export function field(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const key = Object.keys(value).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : (value as Record<string, unknown>)[key];
}

/**
 * The VMs in `tart list --format json` (tart.md §1.2 `list`), every local one whoever made it (telling Grove's apart is
 * the caller's job); OCI cache entries are left out, being images rather than VMs. Fields are matched
 * case-insensitively and extra ones ignored, as Orchard decodes them; `State` stands in for a missing `Running`.
 */
export function parseTartList(json: string): OnDiskVm[] {
  let entries: unknown;
  try {
    entries = JSON.parse(json);
  } catch (err) {
    throw new RuntimeError(`tart list printed no JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(entries)) {
    throw new RuntimeError('tart list printed no JSON array');
  }
  const vms: OnDiskVm[] = [];
  for (const entry of entries) {
    const name = field(entry, 'Name');
    const source = field(entry, 'Source');
    if (typeof name !== 'string' || (typeof source === 'string' && source.toLowerCase() === 'oci')) {
      continue;
    }
    // `Running` is what Orchard reads; Tart keeps it only for compatibility beside `State` (tart.md §1.2 `list`).
    const running = field(entry, 'Running');
    const state = field(entry, 'State');
    vms.push({
      name,
      running: typeof running === 'boolean' ? running : typeof state === 'string' && state.toLowerCase() === 'running',
    });
  }
  return vms;
}

/** `State` of `tart get <name> --format json` in lower case (`running`, `suspended`, `stopped`), if it has one. */
export function parseTartGetState(json: string): string | undefined {
  const state = field(JSON.parse(json), 'State');
  return typeof state === 'string' ? state.toLowerCase() : undefined;
}
