import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphInk } from './pixel-font';
import { union, type Rect } from './rect';

/** The keysyms (X11 keysymdef) the screen reacts to besides printable Latin-1 (which equals its keysym). */
const KEYSYM_BACKSPACE = 0xff08;
const KEYSYM_RETURN = 0xff0d;
const KEYSYM_ESCAPE = 0xff1b;

/** How often the moving bar advances while someone watches (nobody watching: no timer, no work). */
const TICK_MS = 200;

const SCALE = 4;
/** Width of one character at SCALE, one pixel column of spacing included. */
const ADVANCE = (GLYPH_WIDTH + 1) * SCALE;

/** Bands of the screen, top to bottom. */
const TITLE: Rect = { x: 0, y: 0, width: 1024, height: 48 };
const BARS: Rect = { x: 0, y: 48, width: 1024, height: 320 };
const RAMP: Rect = { x: 0, y: 368, width: 1024, height: 32 };
const CANVAS: Rect = { x: 0, y: 400, width: 1024, height: 200 };
const TYPED: Rect = { x: 0, y: 600, width: 1024, height: 80 };
const STATUS: Rect = { x: 0, y: 680, width: 1024, height: 40 };
const TICKER: Rect = { x: 0, y: 720, width: 1024, height: 48 };

/** Colour bars, left to right (0xRRGGBB): white, yellow, cyan, green, magenta, red, blue, black. */
export const BAR_COLOURS = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
export const BARS_TOP = BARS.y;

const TEXT = 0xf0f0f0;
const DIM = 0x909090;
const TICKER_BLOCK = { width: 96, colour: 0xff8000 };
/** The dot a pressed button draws: left white, middle green, right red (the colour of the lowest pressed button). */
const DOT_COLOURS = [0xffffff, 0x00ff00, 0xff0000];
const DOT_RADIUS = 5;

/**
 * The screen of a synthetic VM (issue 16): a 1024×768 test pattern that a VNC viewer recognises at a glance and
 * that shows input and time reach it — the VM's name in a title bar, colour bars and a grey ramp, a canvas where a
 * pressed pointer button paints dots, the text typed so far (and the last clipboard text received), the pointer's
 * position, and a bar that moves five times a second while anyone watches. One screen is shared by every viewer of
 * the VM, like a real display. Pixels are 0xRRGGBB; every change is reported as a damaged rectangle.
 */
export class TestPatternScreen {
  readonly width = 1024;
  readonly height = 768;
  readonly pixels: Uint32Array;
  private readonly watchers = new Set<(damage: Rect) => void>();
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private typed = '';
  private clipboard = '';
  private keys = 0;
  private pointer = { x: 0, y: 0, buttons: 0 };

  constructor(readonly name: string) {
    this.pixels = new Uint32Array(this.width * this.height);
    this.drawPattern();
  }

  /**
   * Calls `onDamage` with each rectangle that changes from now on, until the returned function is called. The moving
   * bar runs while at least one watcher is subscribed.
   */
  watch(onDamage: (damage: Rect) => void): () => void {
    this.watchers.add(onDamage);
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    return () => {
      this.watchers.delete(onDamage);
      if (this.watchers.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** A pointer event: moves the pointer; with a button pressed, paints a dot there (a stroke while dragging). */
  pointerEvent(x: number, y: number, buttons: number): void {
    const from = this.pointer;
    this.pointer = { x: Math.min(x, this.width - 1), y: Math.min(y, this.height - 1), buttons };
    const button = [0, 1, 2].find((b) => (buttons & (1 << b)) !== 0);
    if (button !== undefined) {
      // Dragging: dots every 2 pixels from where the pointer was, so that a fast drag still draws a line.
      const start = from.buttons === buttons ? from : this.pointer;
      const steps = Math.max(1, Math.ceil(Math.hypot(this.pointer.x - start.x, this.pointer.y - start.y) / 2));
      for (let i = 1; i <= steps; i++) {
        const cx = Math.round(start.x + ((this.pointer.x - start.x) * i) / steps);
        const cy = Math.round(start.y + ((this.pointer.y - start.y) * i) / steps);
        this.dot(cx, cy, DOT_COLOURS[button]);
      }
      this.damage(
        this.clip({
          x: Math.min(start.x, this.pointer.x) - DOT_RADIUS,
          y: Math.min(start.y, this.pointer.y) - DOT_RADIUS,
          width: Math.abs(this.pointer.x - start.x) + DOT_RADIUS * 2 + 1,
          height: Math.abs(this.pointer.y - start.y) + DOT_RADIUS * 2 + 1,
        }),
      );
    }
    this.drawStatus();
  }

  /** A key event (an X11 keysym): printable keys are typed, Backspace erases, Return or Escape clears the line. */
  keyEvent(down: boolean, keysym: number): void {
    if (!down) {
      return;
    }
    this.keys++;
    if (keysym >= 0x20 && keysym <= 0x7e) {
      this.typed += String.fromCharCode(keysym);
    } else if (keysym === KEYSYM_BACKSPACE) {
      this.typed = this.typed.slice(0, -1);
    } else if (keysym === KEYSYM_RETURN || keysym === KEYSYM_ESCAPE) {
      this.typed = '';
    }
    this.drawTyped();
    this.drawStatus();
  }

  /** Text the viewer put on the clipboard: shown under the typed text. */
  cutText(text: string): void {
    this.clipboard = text.replace(/\s+/g, ' ');
    this.drawTyped();
  }

  /** Advances the moving bar by one step (the timer calls it while anyone watches). */
  tick(): void {
    this.frame++;
    this.drawTicker();
  }

  /** Stops the moving bar's timer for good: the VM is gone. */
  close(): void {
    this.watchers.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** `rect` cut to the screen (width or height 0 when it lies outside). */
  clip(rect: Rect): Rect {
    const x = Math.max(0, Math.min(rect.x, this.width));
    const y = Math.max(0, Math.min(rect.y, this.height));
    const right = Math.max(x, Math.min(rect.x + rect.width, this.width));
    const bottom = Math.max(y, Math.min(rect.y + rect.height, this.height));
    return { x, y, width: right - x, height: bottom - y };
  }

  private drawPattern(): void {
    this.fill(TITLE, 0x203040);
    this.text(16, 14, `GROVE SYNTHETIC VM ${this.name}`, TEXT);
    const barWidth = BARS.width / BAR_COLOURS.length;
    BAR_COLOURS.forEach((colour, i) => this.fill({ ...BARS, x: i * barWidth, width: barWidth }, colour));
    for (let x = 0; x < RAMP.width; x++) {
      const v = Math.round((x * 255) / (RAMP.width - 1));
      this.fill({ ...RAMP, x, width: 1 }, (v << 16) | (v << 8) | v);
    }
    this.fill(CANVAS, 0x303030);
    this.fill(TICKER, 0x101010);
    this.text(16, CANVAS.y + 12, 'CLICK OR DRAG TO DRAW', DIM);
    this.drawTyped();
    this.drawStatus();
    this.drawTicker();
  }

  private drawTyped(): void {
    this.fill(TYPED, 0x102040);
    const room = Math.floor((TYPED.width - 32) / ADVANCE) - 6;
    this.text(16, TYPED.y + 12, `KEYS: ${this.typed.slice(-room)}_`, TEXT);
    this.text(16, TYPED.y + 46, `CLIP: ${this.clipboard.slice(0, room)}`, DIM);
    this.damage(TYPED);
  }

  private drawStatus(): void {
    this.fill(STATUS, 0x000000);
    const { x, y, buttons } = this.pointer;
    this.text(16, STATUS.y + 10, `POINTER ${x},${y}  BUTTONS ${buttons}  KEYS ${this.keys}`, DIM);
    this.damage(STATUS);
  }

  /**
   * Moves the ticker's block to where `frame` puts it. Only the block's old and new places are redrawn and reported:
   * a viewer left open gets a few kilobytes five times a second, not the whole band.
   */
  private drawTicker(): void {
    const block = (frame: number): Rect => {
      const travel = TICKER.width + TICKER_BLOCK.width;
      return this.clip({ ...TICKER, x: ((frame * 16) % travel) - TICKER_BLOCK.width, width: TICKER_BLOCK.width });
    };
    const before = block(this.frame - 1);
    const after = block(this.frame);
    this.fill(before, 0x101010);
    this.fill(after, TICKER_BLOCK.colour);
    this.damage(before.width === 0 ? after : after.width === 0 ? before : union(before, after));
  }

  private dot(cx: number, cy: number, colour: number): void {
    const box = this.clip({
      x: cx - DOT_RADIUS,
      y: cy - DOT_RADIUS,
      width: DOT_RADIUS * 2 + 1,
      height: DOT_RADIUS * 2 + 1,
    });
    for (let y = box.y; y < box.y + box.height; y++) {
      for (let x = box.x; x < box.x + box.width; x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= DOT_RADIUS ** 2) {
          this.pixels[y * this.width + x] = colour;
        }
      }
    }
  }

  private fill(rect: Rect, colour: number): void {
    for (let y = rect.y; y < rect.y + rect.height; y++) {
      this.pixels.fill(colour, y * this.width + rect.x, y * this.width + rect.x + rect.width);
    }
  }

  /** Draws `text` at SCALE with its top-left corner at (`left`, `top`), cut at the right edge. */
  private text(left: number, top: number, text: string, colour: number): void {
    [...text].forEach((char, i) => {
      const charLeft = left + i * ADVANCE;
      if (charLeft + GLYPH_WIDTH * SCALE > this.width) {
        return;
      }
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        for (let column = 0; column < GLYPH_WIDTH; column++) {
          if (glyphInk(char, column, row)) {
            this.fill({ x: charLeft + column * SCALE, y: top + row * SCALE, width: SCALE, height: SCALE }, colour);
          }
        }
      }
    });
  }

  private damage(rect: Rect): void {
    for (const watcher of this.watchers) {
      watcher(rect);
    }
  }
}
