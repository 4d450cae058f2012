import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';

interface ScreenClipboardProps {
  /** The last text the VM put on its clipboard. */
  fromVm: string;
  /** No sending (not connected, or view only). */
  disabled: boolean;
  onSend: (text: string) => void;
}

/**
 * The clipboard between the page and the VM: VNC carries clipboard text both ways, but a browser page cannot watch
 * the local clipboard, so text goes to the VM from this box (paste into it, then send) and comes back into it.
 */
export function ScreenClipboard({ fromVm, disabled, onSend }: ScreenClipboardProps) {
  const text = useSignal('');
  // A new text from the VM replaces the box's content.
  useEffect(() => {
    if (fromVm !== '') {
      text.value = fromVm;
    }
  }, [fromVm]);
  return (
    <details class="card screen-clipboard">
      <summary>Clipboard</summary>
      <label class="field">
        <span>Text to send to the VM, or the VM's last copied text</span>
        <textarea rows={3} value={text.value} onInput={(event) => (text.value = event.currentTarget.value)} />
      </label>
      <div class="actions">
        <button
          type="button"
          class="btn btn-small"
          disabled={disabled || text.value === ''}
          onClick={() => onSend(text.value)}
        >
          Send to the VM
        </button>
        {typeof navigator.clipboard?.writeText === 'function' && (
          <button
            type="button"
            class="btn btn-small"
            disabled={text.value === ''}
            onClick={() => void navigator.clipboard.writeText(text.value).catch(() => undefined)}
          >
            Copy to my clipboard
          </button>
        )}
      </div>
    </details>
  );
}
