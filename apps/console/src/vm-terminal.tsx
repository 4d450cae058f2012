import '@xterm/xterm/css/xterm.css';
import './terminal/terminal.css';
import { useSignal } from '@preact/signals';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef } from 'preact/hooks';
import { seg, wsProtocols, wsUrl, type Credentials } from './api';
import { canReadClipboard, copySelection, pasteClipboard } from './terminal/clipboard';
import { LOGIN_SHELL_COMMAND } from './terminal/exec-frames';
import { terminalKeys } from './terminal/keys';
import { diagnoseShell, newSessionId } from './terminal/shell-diagnosis';
import { ShellSession, type ShellState } from './terminal/shell-session';
import type { Vm } from './types';
import { ConnectGate } from './vm-connect';

/**
 * The Terminal tab: a login shell in the VM on a pseudo-terminal, through the exec WebSocket (issue 16). The shell
 * lives in a reconnectable session: a dropped connection reattaches to the same shell and shows what it missed.
 * Leaving the tab ends the shell.
 */
export function VmTerminal({ vm }: { vm: Vm }) {
  const generation = useSignal(0);
  // A new incarnation of the VM (same name, new uid), or "Start a new shell", gets a new terminal.
  return (
    <ConnectGate vm={vm} action="open a terminal" thing="terminal">
      {(creds) => (
        <ShellView
          key={`${vm.uid}:${generation.value}`}
          vm={vm.name}
          creds={creds}
          onRestart={() => generation.value++}
        />
      )}
    </ConnectGate>
  );
}

interface ShellViewProps {
  vm: string;
  creds: Credentials;
  onRestart: () => void;
}

function ShellView({ vm, creds, onRestart }: ShellViewProps) {
  const host = useRef<HTMLDivElement>(null);
  const toolbar = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | undefined>(undefined);
  const session = useRef<ShellSession | undefined>(undefined);
  const state = useSignal<ShellState>({ kind: 'connecting' });
  const selected = useSignal(false);
  const notice = useSignal('');

  useEffect(() => {
    const element = host.current!;
    const terminal = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, 'SF Mono', Menlo, Consolas, 'Liberation Mono', monospace",
      fontSize: 14,
      scrollback: 5000,
      // Right-click selects the word under the pointer, so that the context menu's Copy copies it.
      rightClickSelectsWord: true,
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(element);
    fit.fit();
    const sessionId = newSessionId();
    const shell = new ShellSession({
      open: (query) => new WebSocket(wsUrl(`/v1/vms/${seg(vm)}/exec?${query.toString()}`), wsProtocols(creds)),
      command: LOGIN_SHELL_COMMAND,
      sessionId,
      size: () => ({ rows: terminal.rows, cols: terminal.cols }),
      onOutput: (bytes) => terminal.write(bytes),
      onState: (next) => {
        state.value = next;
        if (next.kind === 'exited') {
          terminal.write(`\r\n\x1b[2m[the shell exited with code ${next.code}]\x1b[0m\r\n`);
        }
      },
      diagnose: (attaching) => diagnoseShell(creds, vm, sessionId, attaching),
    });
    term.current = terminal;
    session.current = shell;
    terminal.attachCustomKeyEventHandler(
      terminalKeys(terminal, () => {
        const bar = toolbar.current;
        (bar?.querySelector<HTMLElement>('button:not(:disabled)') ?? bar)?.focus();
      }),
    );
    const subscriptions = [
      terminal.onData((data) => shell.input(data)),
      terminal.onBinary((data) => shell.inputBinary(data)),
      terminal.onResize(() => shell.resize()),
      terminal.onSelectionChange(() => (selected.value = terminal.hasSelection())),
    ];
    // The element follows the window (and the page's layout): refit once per frame at most.
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => fit.fit());
    });
    observer.observe(element);
    // Closing or reloading the tab ends the shell too (a running session has no idle timeout on the controller).
    const onPageHide = () => shell.dispose();
    window.addEventListener('pagehide', onPageHide);
    shell.start();
    terminal.focus();
    return () => {
      window.removeEventListener('pagehide', onPageHide);
      cancelAnimationFrame(frame);
      observer.disconnect();
      for (const subscription of subscriptions) {
        subscription.dispose();
      }
      shell.dispose();
      terminal.dispose();
      term.current = undefined;
      session.current = undefined;
    };
  }, [vm, creds]);

  const current = state.value;
  const ended = current.kind === 'exited' || current.kind === 'failed';
  return (
    <div class="vm-terminal">
      <div class="toolbar terminal-toolbar" ref={toolbar} tabIndex={-1}>
        <StateLine state={current} />
        <span class="grow" />
        <span class="terminal-hint" aria-hidden="true">
          Ctrl+Shift+C/V copy, paste · Ctrl+Shift+E leaves the terminal
        </span>
        <button
          type="button"
          class="btn btn-small"
          disabled={!selected.value}
          title="Copy the selection (Ctrl+Shift+C)"
          onMouseDown={keepTerminalFocus}
          onClick={() => term.current && copySelection(term.current)}
        >
          Copy
        </button>
        {canReadClipboard() && (
          <button
            type="button"
            class="btn btn-small"
            disabled={ended}
            title="Paste the clipboard (Ctrl+Shift+V)"
            onMouseDown={keepTerminalFocus}
            onClick={() => {
              const terminal = term.current;
              if (terminal) {
                notice.value = '';
                pasteClipboard(terminal)
                  .then(() => terminal.focus())
                  .catch(
                    () => (notice.value = 'The browser did not let the page read the clipboard: use Ctrl+Shift+V.'),
                  );
              }
            }}
          >
            Paste
          </button>
        )}
        {current.kind === 'failed' && current.canRetry && (
          <button type="button" class="btn btn-small" onClick={() => session.current?.retry()}>
            Reconnect
          </button>
        )}
        {ended && (
          <button type="button" class="btn btn-small btn-primary" onClick={onRestart}>
            Start a new shell
          </button>
        )}
      </div>
      {notice.value && (
        <p class="banner banner-warn" role="status">
          {notice.value}
        </p>
      )}
      <div
        class="terminal-host"
        ref={host}
        data-state={current.kind}
        aria-label="Terminal: Ctrl+Shift+C copies, Ctrl+Shift+V pastes, Ctrl+Shift+E moves the focus out"
      />
    </div>
  );
}

/**
 * The Copy and Paste buttons do not take the focus from the terminal: the next key goes to the shell (an Enter right
 * after a click would otherwise press the button again).
 */
function keepTerminalFocus(event: MouseEvent): void {
  event.preventDefault();
}

/** A reason as a sentence: capitalised, with a full stop. */
function asSentence(text: string): string {
  const capitalised = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

function StateLine({ state }: { state: ShellState }) {
  let text: string;
  switch (state.kind) {
    case 'connecting':
      text = state.problem ? `${asSentence(state.problem)} Retrying…` : 'Connecting…';
      break;
    case 'connected':
      text = 'Connected';
      break;
    case 'reconnecting':
      text = `Reconnecting (attempt ${state.attempt})… ${asSentence(state.reason)}`;
      break;
    case 'exited':
      text = `The shell exited with code ${state.code}.`;
      break;
    case 'failed':
      text = state.message;
      break;
  }
  return (
    <span class={`terminal-state terminal-state-${state.kind}`} role="status" aria-live="polite">
      {text}
    </span>
  );
}
