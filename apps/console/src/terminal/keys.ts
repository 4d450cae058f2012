import type { Terminal } from '@xterm/xterm';
import { copySelection } from './clipboard';

/**
 * xterm's custom key handler: the keys the page takes before the shell sees them. Ctrl+C, Ctrl+V and Tab belong to the
 * shell (interrupt, literal next, completion), so the terminal takes Ctrl+Shift combinations as Linux terminals do
 * (Cmd+Shift on a Mac, where Cmd+C/V work as well):
 * - Ctrl+Shift+C copies the selection (instead of the browser's element inspector);
 * - Ctrl+Shift+V is left to the browser, whose paste event xterm turns into input;
 * - Ctrl+Shift+E leaves the terminal (`leave` moves the focus out), since Tab cannot.
 * Returns false for the keys it takes, so that xterm does not also send them to the shell.
 */
export function terminalKeys(term: Terminal, leave: () => void): (event: KeyboardEvent) => boolean {
  return (event) => {
    if (!event.shiftKey || !(event.ctrlKey || event.metaKey) || event.altKey) {
      return true;
    }
    switch (event.code) {
      case 'KeyC':
        if (event.type === 'keydown') {
          event.preventDefault();
          copySelection(term);
        }
        return false;
      case 'KeyE':
        if (event.type === 'keydown') {
          event.preventDefault();
          leave();
        }
        return false;
      case 'KeyV':
        return false;
      default:
        return true;
    }
  };
}
