/** A rectangle of the screen, in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The smallest rectangle holding `a` and `b`. */
export function union(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
  };
}

/** Where `a` and `b` overlap (width or height 0 when they do not). */
export function intersection(a: Rect, b: Rect): Rect {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(0, Math.min(a.x + a.width, b.x + b.width) - x),
    height: Math.max(0, Math.min(a.y + a.height, b.y + b.height) - y),
  };
}

/** What of `a` lies outside `b`: up to four rectangles (bands above and below `b`, then beside it). */
export function subtract(a: Rect, b: Rect): Rect[] {
  const overlap = intersection(a, b);
  if (overlap.width === 0 || overlap.height === 0) {
    return [a];
  }
  const pieces: Rect[] = [
    { x: a.x, y: a.y, width: a.width, height: overlap.y - a.y },
    { x: a.x, y: overlap.y + overlap.height, width: a.width, height: a.y + a.height - overlap.y - overlap.height },
    { x: a.x, y: overlap.y, width: overlap.x - a.x, height: overlap.height },
    {
      x: overlap.x + overlap.width,
      y: overlap.y,
      width: a.x + a.width - overlap.x - overlap.width,
      height: overlap.height,
    },
  ];
  return pieces.filter((piece) => piece.width > 0 && piece.height > 0);
}
