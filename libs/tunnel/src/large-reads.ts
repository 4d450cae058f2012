import { Socket } from 'node:net';

/**
 * Large reads into reused buffers for plain TCP sockets that relay bytes (docs/tunnels.md "Raw byte streams").
 *
 * A Node socket normally reads at most 64 KiB per system call into a new buffer each time, and the garbage collector
 * then reclaims every one. A relay that moves hundreds of MB/s spends much of its time there: in a chain of Node relays
 * on loopback, reading into reused 256 KiB–1 MiB buffers moved 20–40 % more bytes per second than `pipe()`
 * (docs/benchmarks.md "Raw byte streams"). Node offers this as the `onread` option of `net.connect`, but not for
 * sockets a server accepted (the controller's every socket, the CLI's local ones); `useLargeReads` switches such a
 * socket to the same mode. It relies on how Node 20 keeps that option on the socket, found by looking at a socket
 * made with the option; where that is not found, or for TLS sockets, it returns false and the caller reads as usual.
 *
 * One full read per turn of the event loop: a relay carries many sessions, and a read that fills its buffer hands the
 * loop back before the next one, so that an interactive session's byte waits behind at most one bulk read (1 MiB) on
 * each hop rather than behind a burst of them (docs/benchmarks.md "Interactive under bulk").
 */

/** Buffer of a read after one that filled its buffer: the stream is moving bulk data. */
const LARGE = 1024 * 1024;
/** Buffer of a read after a short one: an interactive session holds no more than this while idle. */
const SMALL = 16 * 1024;
/** Free buffers kept for reuse, per size. */
const MAX_FREE = { [LARGE]: 16, [SMALL]: 64 };
/**
 * Large buffers handed out at once (armed for a read, or carrying a chunk being written), across the process: past
 * this, reads get small buffers, so that many bulk sessions (or many that went idle after a burst, each keeping its
 * armed buffer) hold at most 64 MiB in them.
 */
const MAX_OUTSTANDING_LARGE = 64;

const free: Record<number, Buffer[]> = { [LARGE]: [], [SMALL]: [] };
let outstandingLarge = 0;

function take(wanted: number): Buffer {
  let size = wanted;
  if (size === LARGE) {
    if (outstandingLarge >= MAX_OUTSTANDING_LARGE) {
      size = SMALL;
    } else {
      outstandingLarge++;
    }
  }
  return free[size].pop() ?? Buffer.allocUnsafeSlow(size);
}

function give(buffer: Buffer): void {
  if (buffer.length === LARGE) {
    outstandingLarge--;
  }
  const list = free[buffer.length];
  if (list && list.length < MAX_FREE[buffer.length]) {
    list.push(buffer);
  }
}

interface OnreadSymbols {
  buffer: symbol;
  generator: symbol;
  callback: symbol;
}

let symbols: OnreadSymbols | null | undefined;

/** The keys under which Node keeps a socket's `onread` option, found on a socket made with one. */
function onreadSymbols(): OnreadSymbols | null {
  if (symbols !== undefined) {
    return symbols;
  }
  // `onread` is a documented option of net.connect that the constructor's types do not list.
  const probe = new Socket({ onread: { buffer: () => Buffer.alloc(1), callback: () => true } } as object);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  const buffer = byName.get('kBuffer');
  const generator = byName.get('kBufferGen');
  const callback = byName.get('kBufferCb');
  probe.destroy();
  symbols = buffer && generator && callback ? { buffer, generator, callback } : null;
  return symbols;
}

type Handle = { useUserBuffer?: (buffer: Buffer) => void };

/**
 * Reads `socket` into reused buffers from now on, handing each read to `deliver(chunk, release)`: `release` gives the
 * buffer back once the chunk is no longer needed (after the write that carried it completed), and returning false
 * pauses the socket until `resume()`. Bytes the socket had already buffered are delivered first (release is then a
 * no-op). Returns false, changing nothing, when the socket cannot be switched (TLS, no handle, another Node).
 */
export function useLargeReads(socket: Socket, deliver: (chunk: Buffer, release: () => void) => boolean): boolean {
  const keys = onreadSymbols();
  const handle = (socket as unknown as { _handle?: Handle })._handle;
  if (!keys || (socket as Socket & { encrypted?: boolean }).encrypted || typeof handle?.useUserBuffer !== 'function') {
    return false;
  }
  let buffered: Buffer | null;
  while ((buffered = socket.read() as Buffer | null) !== null) {
    deliver(buffered, () => undefined);
  }
  let size = SMALL;
  /** The buffer armed for the next read: given back if the socket closes before it is read into. */
  let armed: Buffer | undefined;
  const next = (): Buffer => (armed = take(size));
  const target = socket as unknown as Record<symbol, unknown>;
  target[keys.generator] = next;
  target[keys.callback] = (length: number, buffer: Buffer): boolean => {
    armed = undefined;
    // Bulk moves up to large buffers, a short read (a keystroke, the end of a burst) goes back to small ones.
    const full = length === buffer.length;
    size = full ? LARGE : length < SMALL ? SMALL : size;
    const more = deliver(buffer.subarray(0, length), () => give(buffer));
    if (more && full) {
      // More is waiting in the kernel. libuv would read again at once, up to 32 times, while every other socket of
      // the process waits: 32 MiB of one bulk session ahead of a keystroke. Reading stops instead, and starts again
      // once the event loop has served what else was ready.
      setImmediate(() => socket.resume());
      return false;
    }
    return more;
  };
  socket.once('close', () => {
    if (armed) {
      give(armed);
      armed = undefined;
    }
  });
  const first = next();
  target[keys.buffer] = first;
  handle.useUserBuffer(first);
  return true;
}
