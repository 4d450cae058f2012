/** The reason of a pending VM when there is no worker at all. */
export const NO_WORKER_REASON = 'waiting for a worker: none is registered';

/** Causes named one by one; the others are summed up in one more part. */
const SHOWN_CAUSES = 3;
const MAX_CAUSE_CHARS = 120;
const MAX_REASON_CHARS = 400;

/** Why one worker cannot take the VM. */
export interface Refusal {
  worker: string;
  cause: string;
}

/**
 * The `status_message` of a VM that no worker can take (Orchard #394: say why it waits). The refusals are counted by
 * cause, most frequent first, so that the reason stays a few hundred characters however large the fleet (one refusal
 * per worker made 24 KB with 500 workers, issue 13): `waiting for a worker: 480 workers: lacks label gpu=yes;
 * 20 workers: not enough org.cirruslabs.tart-vms`. A cause of a single worker names it (`mac-7: scheduling paused`),
 * so a small cluster reads as before. Equal refusals give an equal text, so a pass rewrites a reason only when the
 * situation changed.
 */
export function pendingReason(refusals: readonly Refusal[]): string {
  if (refusals.length === 0) {
    return NO_WORKER_REASON;
  }
  const byCause = new Map<string, { count: number; worker: string }>();
  for (const { worker, cause } of refusals) {
    const group = byCause.get(cause);
    if (group) {
      group.count++;
    } else {
      byCause.set(cause, { count: 1, worker });
    }
  }
  const groups = [...byCause].map(([cause, { count, worker }]) => ({
    count,
    text: `${count === 1 ? clip(worker, MAX_CAUSE_CHARS) : `${count} workers`}: ${clip(cause, MAX_CAUSE_CHARS)}`,
  }));
  groups.sort((a, b) => b.count - a.count || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  const text = (shown: number) => {
    const parts = groups.slice(0, shown).map((g) => g.text);
    const rest = groups.slice(shown);
    if (rest.length > 0) {
      const workers = rest.reduce((sum, g) => sum + g.count, 0);
      parts.push(`${workers} more workers: ${rest.length} other reasons`);
    }
    return `waiting for a worker: ${parts.join('; ')}`;
  };
  // Naming a fourth cause takes no more room than summing it up; long causes leave room for fewer.
  let shown = groups.length <= SHOWN_CAUSES + 1 ? groups.length : SHOWN_CAUSES;
  while (shown > 1 && text(shown).length > MAX_REASON_CHARS) {
    shown--;
  }
  return clip(text(shown), MAX_REASON_CHARS);
}

/** At most `max` characters, cut between code points (a lone surrogate cannot be stored). */
function clip(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  return `${Array.from(text)
    .slice(0, max - 1)
    .join('')}…`;
}
