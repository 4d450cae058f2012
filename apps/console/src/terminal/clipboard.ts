import type { Terminal } from '@xterm/xterm';

/* Copy and paste in the terminal (the keys are in keys.ts); the context menu works through xterm's own textarea. */

/** Copies the terminal's selection to the clipboard; false when nothing is selected. */
export function copySelection(term: Terminal): boolean {
  const text = term.getSelection();
  if (text === '') {
    return false;
  }
  if (navigator.clipboard?.writeText) {
    navigator.clipboard.writeText(text).catch(() => legacyCopy());
  } else {
    legacyCopy();
  }
  return true;
}

/** Outside a secure context (plain http to a remote host) there is no Clipboard API: the copy command still works. */
function legacyCopy(): void {
  // xterm answers the copy event on its textarea with its selection.
  document.execCommand('copy');
}

/** Whether the page may read the clipboard on a click (a secure context with the Clipboard API). */
export function canReadClipboard(): boolean {
  return typeof navigator.clipboard?.readText === 'function';
}

/** Pastes the clipboard's text into the terminal (as typed, bracketed when the shell asked for it). */
export async function pasteClipboard(term: Terminal): Promise<void> {
  const text = await navigator.clipboard.readText();
  if (text !== '') {
    term.paste(text);
  }
}
