const CTRL_P = 0x10;
const CTRL_Q = 0x11;

/**
 * Docker's detach keys, Ctrl-P then Ctrl-Q, for `grove exec -it --session`: there the terminal is raw, so Ctrl-C
 * goes to the remote program and cannot detach. A Ctrl-P is held back until the next key shows whether it starts
 * the sequence; any other key sends both (so Ctrl-P still works, one key late).
 */
export class DetachKeys {
  /** The sequence was typed; nothing after it is forwarded. */
  detached = false;
  private holding = false;

  /** The bytes of `chunk` to forward to the remote terminal. */
  filter(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.detached) {
        break;
      }
      if (this.holding) {
        this.holding = false;
        if (byte === CTRL_Q) {
          this.detached = true;
          break;
        }
        out.push(CTRL_P);
      }
      if (byte === CTRL_P) {
        this.holding = true;
      } else {
        out.push(byte);
      }
    }
    return Buffer.from(out);
  }
}
