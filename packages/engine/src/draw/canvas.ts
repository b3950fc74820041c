import { clamp } from '../numbers.ts';

/**
 * Minimal raster drawing on interleaved 8-bit RGB buffers (the pixels of a `DecodedImage`):
 * filled and outlined rectangles, optionally with rounded corners. Every operation clips to the
 * canvas, so boxes partly outside the image draw what is inside.
 */

/** An RGB colour, each channel 0–255. */
export type Rgb = readonly [number, number, number];

export class Canvas {
  constructor(
    /** row-major RGB pixels, `width × height × 3` bytes; drawn on in place */
    readonly data: Buffer,
    readonly width: number,
    readonly height: number,
  ) {
    if (data.length !== width * height * 3)
      throw new Error(`pixel buffer has ${data.length} bytes, expected ${width * height * 3}`);
  }

  /** The colour at (x, y) (tests and checks). */
  pixel(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 3;
    return [this.data[i], this.data[i + 1], this.data[i + 2]];
  }

  /** Fills [x1, x2) × [y1, y2). */
  fillRect(x1: number, y1: number, x2: number, y2: number, c: Rgb): void {
    const xa = Math.max(0, Math.floor(x1));
    const xb = Math.min(this.width, Math.floor(x2));
    const ya = Math.max(0, Math.floor(y1));
    const yb = Math.min(this.height, Math.floor(y2));
    if (xa >= xb || ya >= yb) return;
    // one row filled pixel by pixel, then copied to the others
    const rowStart = (ya * this.width + xa) * 3;
    for (let x = 0; x < xb - xa; x++) {
      this.data[rowStart + x * 3] = c[0];
      this.data[rowStart + x * 3 + 1] = c[1];
      this.data[rowStart + x * 3 + 2] = c[2];
    }
    const len = (xb - xa) * 3;
    for (let y = ya + 1; y < yb; y++)
      this.data.copy(this.data, (y * this.width + xa) * 3, rowStart, rowStart + len);
  }

  /**
   * Fills [x1, x2) × [y1, y2) with corners rounded by `radius` pixels (clamped to half the
   * shorter side). A pixel is inside when its centre is inside the rounded shape.
   */
  fillRoundedRect(x1: number, y1: number, x2: number, y2: number, radius: number, c: Rgb): void {
    const r = Math.max(0, Math.min(radius, (x2 - x1) / 2, (y2 - y1) / 2));
    if (r < 0.5) {
      this.fillRect(x1, y1, x2, y2, c);
      return;
    }
    // the middle band in full, then the top and bottom bands row by row
    this.fillRect(x1, y1 + r, x2, y2 - r, c);
    for (let y = Math.floor(y1); y < Math.ceil(y1 + r); y++) this.roundedRow(x1, x2, y, y1 + r, r, c);
    for (let y = Math.floor(y2 - r); y < Math.ceil(y2); y++) this.roundedRow(x1, x2, y, y2 - r, r, c);
  }

  /** One row of a rounded rectangle's top or bottom band; `cy` is the corner circles' centre row. */
  private roundedRow(x1: number, x2: number, y: number, cy: number, r: number, c: Rgb): void {
    const dy = Math.abs(y + 0.5 - cy);
    if (dy > r) return;
    const inset = r - Math.sqrt(r * r - dy * dy);
    this.fillRect(Math.round(x1 + inset), y, Math.round(x2 - inset), y + 1, c);
  }

  /**
   * Outlines the box with corners (x1, y1) and (x2, y2) (inclusive pixel coordinates, like
   * `cv2.rectangle`): each edge is a band of `thickness` pixels centred on the edge line, with
   * square corners.
   */
  strokeRect(x1: number, y1: number, x2: number, y2: number, thickness: number, c: Rgb): void {
    const t = Math.max(1, Math.round(thickness));
    const lo = Math.floor(t / 2);
    const hi = t - lo; // band [e - lo, e - lo + t)
    this.fillRect(x1 - lo, y1 - lo, x2 - lo + t, y1 + hi, c); // top
    this.fillRect(x1 - lo, y2 - lo, x2 - lo + t, y2 + hi, c); // bottom
    this.fillRect(x1 - lo, y1 - lo, x1 + hi, y2 - lo + t, c); // left
    this.fillRect(x2 - lo, y1 - lo, x2 + hi, y2 - lo + t, c); // right
  }

  /**
   * Outlines the box with corners rounded by `radius` pixels: a pixel is drawn when its centre
   * lies within `thickness / 2` of the rounded rectangle's outline. With radius 0 this is
   * {@link strokeRect}.
   */
  strokeRoundedRect(
    x1: number,
    y1: number,
    x2: number,
    y2: number,
    thickness: number,
    radius: number,
    c: Rgb,
  ): void {
    const r = Math.max(0, Math.min(radius, (x2 - x1) / 2, (y2 - y1) / 2));
    if (r < 0.5) {
      this.strokeRect(x1, y1, x2, y2, thickness, c);
      return;
    }
    const t = Math.max(1, Math.round(thickness));
    const half = t / 2;
    const reach = Math.ceil(half) + 1;
    // outline centre line through pixel centres of the edge pixels
    const cx1 = x1 + 0.5 + r;
    const cx2 = x2 + 0.5 - r;
    const cy1 = y1 + 0.5 + r;
    const cy2 = y2 + 0.5 - r;
    const ya = Math.max(0, y1 - reach);
    const yb = Math.min(this.height - 1, y2 + reach);
    for (let y = ya; y <= yb; y++) {
      const py = y + 0.5;
      const nearTopOrBottom = py < cy1 + reach || py > cy2 - reach;
      const spans: Array<[number, number]> = nearTopOrBottom
        ? [[x1 - reach, x2 + reach]]
        : [
            [x1 - reach, x1 + reach],
            [x2 - reach, x2 + reach],
          ];
      for (const [sa, sb] of spans) {
        for (let x = Math.max(0, sa); x <= Math.min(this.width - 1, sb); x++) {
          const px = x + 0.5;
          // nearest point of the inner rectangle of corner centres
          const qx = clamp(px, cx1, cx2);
          const qy = clamp(py, cy1, cy2);
          let d: number;
          if (qx !== px && qy !== py) {
            // corner region: distance to the arc
            d = Math.abs(Math.hypot(px - qx, py - qy) - r);
          } else {
            // straight edges: distance to the nearest of the four edge lines
            const ex = Math.min(Math.abs(px - (x1 + 0.5)), Math.abs(px - (x2 + 0.5)));
            const ey = Math.min(Math.abs(py - (y1 + 0.5)), Math.abs(py - (y2 + 0.5)));
            const inX = px >= x1 + 0.5 - half && px <= x2 + 0.5 + half;
            const inY = py >= y1 + 0.5 - half && py <= y2 + 0.5 + half;
            d = Math.min(inY ? ex : Number.POSITIVE_INFINITY, inX ? ey : Number.POSITIVE_INFINITY);
          }
          if (d <= half) {
            const i = (y * this.width + x) * 3;
            this.data[i] = c[0];
            this.data[i + 1] = c[1];
            this.data[i + 2] = c[2];
          }
        }
      }
    }
  }
}
