import type { Terminal } from '@xterm/xterm';

/*
 * Copy and paste in the terminal. Ctrl+C and Ctrl+V belong to the shell (interrupt, literal next), so the terminal
 * takes Ctrl+Shift+C / Ctrl+Shift+V as Linux terminals do (Cmd+Shift+C/V on a Mac, where Cmd+C/V work as well). The
 * context menu works through xterm's own textarea.
 */

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

/**
 * xterm's custom key handler: Ctrl/Cmd+Shift+C copies the selection (instead of the browser's element inspector);
 * Ctrl/Cmd+Shift+V is left to the browser, whose paste event xterm turns into input. Returns false for the keys it
 * takes, so that xterm does not also send them to the shell.
 */
export function clipboardKeys(term: Terminal): (event: KeyboardEvent) => boolean {
  return (event) => {
    if (!event.shiftKey || !(event.ctrlKey || event.metaKey) || event.altKey) {
      return true;
    }
    if (event.code === 'KeyC') {
      if (event.type === 'keydown') {
        event.preventDefault();
        copySelection(term);
      }
      return false;
    }
    return event.code !== 'KeyV';
  };
}
