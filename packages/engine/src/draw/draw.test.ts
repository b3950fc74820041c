import { describe, expect, it } from 'vitest';
import { Canvas, type Rgb } from './canvas.ts';
import { DEFAULT_PALETTE, parseColour, pick, resolvePalette } from './colors.ts';
import { cellSize, drawText, glyphRows, measureText } from './font.ts';

const RED: Rgb = [255, 0, 0];
const blank = (w: number, h: number) => new Canvas(Buffer.alloc(w * h * 3), w, h);
const isRed = (c: Canvas, x: number, y: number) => c.pixel(x, y).join() === '255,0,0';

/** Coordinates of every inked pixel. */
function inked(c: Canvas): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let y = 0; y < c.height; y++)
    for (let x = 0; x < c.width; x++) if (c.pixel(x, y).some((v) => v !== 0)) out.push([x, y]);
  return out;
}

describe('Canvas', () => {
  it('fills [x1, x2) × [y1, y2) and clips to the canvas', () => {
    const c = blank(10, 10);
    c.fillRect(-5, 8, 3, 20, RED);
    expect(inked(c)).toEqual([
      [0, 8],
      [1, 8],
      [2, 8],
      [0, 9],
      [1, 9],
      [2, 9],
    ]);
  });

  it('strokes a 1 px box exactly on its corner coordinates', () => {
    const c = blank(20, 20);
    c.strokeRect(5, 6, 12, 15, 1, RED);
    const px = inked(c);
    expect(px.length).toBe(2 * 8 + 2 * 8); // 8 columns × 2 rows + 8 rows × 2 columns (corners once)
    for (const [x, y] of px) expect(x === 5 || x === 12 || y === 6 || y === 15).toBe(true);
    expect(isRed(c, 5, 6) && isRed(c, 12, 15) && isRed(c, 8, 6) && isRed(c, 5, 10)).toBe(true);
  });

  it('strokes thick boxes as bands centred on the edges, interior untouched', () => {
    const c = blank(40, 40);
    c.strokeRect(10, 10, 30, 30, 3, RED);
    for (const d of [-1, 0, 1]) {
      expect(isRed(c, 20, 10 + d)).toBe(true);
      expect(isRed(c, 10 + d, 20)).toBe(true);
      expect(isRed(c, 30 + d, 25)).toBe(true);
    }
    expect(isRed(c, 20, 8)).toBe(false);
    expect(isRed(c, 20, 12)).toBe(false);
    expect(isRed(c, 9, 9)).toBe(true); // square corner
    for (let y = 12; y <= 28; y++) for (let x = 12; x <= 28; x++) expect(isRed(c, x, y)).toBe(false);
  });

  it('rounds corners: the corner pixel stays clear, edge midpoints are drawn', () => {
    const c = blank(50, 50);
    c.strokeRoundedRect(5, 5, 44, 44, 2, 10, RED);
    expect(isRed(c, 5, 5)).toBe(false);
    expect(isRed(c, 25, 5)).toBe(true);
    expect(isRed(c, 5, 25)).toBe(true);
    expect(isRed(c, 44, 25)).toBe(true);
    expect(isRed(c, 25, 44)).toBe(true);
    // the arc passes near the 45° point of the corner circle centred at (15.5, 15.5)
    const a = Math.round(15.5 - 10 / Math.SQRT2 - 0.5);
    expect(isRed(c, a, a)).toBe(true);
    expect(isRed(c, 25, 25)).toBe(false);
  });

  it('fills rounded rectangles without their corners', () => {
    const c = blank(30, 30);
    c.fillRoundedRect(0, 0, 30, 20, 8, RED);
    expect(isRed(c, 0, 0)).toBe(false);
    expect(isRed(c, 29, 19)).toBe(false);
    expect(isRed(c, 15, 0)).toBe(true);
    expect(isRed(c, 0, 10)).toBe(true);
    expect(isRed(c, 15, 10)).toBe(true);
    expect(isRed(c, 15, 20)).toBe(false);
  });
});

describe('bitmap font', () => {
  it('has a 5-column glyph for every printable ASCII character', () => {
    for (let code = 32; code <= 126; code++) {
      const rows = glyphRows(String.fromCharCode(code));
      expect([7, 9]).toContain(rows.length);
      for (const r of rows) expect(r).toMatch(/^[.#]{5}$/);
    }
    expect(glyphRows('é')).toEqual(glyphRows('?'));
  });

  it('measures text by cells of round(3 × scale) pixels', () => {
    expect(cellSize(1)).toBe(3);
    expect(cellSize(0.1)).toBe(1);
    expect(measureText('ab', 1)).toEqual({ width: 11 * 3, height: 21, descent: 6 });
    expect(measureText('ab', 2, 3)).toEqual({ width: 11 * 6 + 2, height: 44, descent: 12 });
    expect(measureText('', 1).width).toBe(0);
  });

  it('draws the glyph pattern scaled at the given top-left', () => {
    const c = blank(40, 40);
    drawText(c, 'L', 10, 5, 1, 1, RED);
    // L: left column on all 7 rows, bottom row full
    for (let r = 0; r < 7; r++) expect(isRed(c, 10, 5 + r * 3)).toBe(true);
    for (let col = 0; col < 5; col++) expect(isRed(c, 10 + col * 3 + 2, 5 + 6 * 3 + 2)).toBe(true);
    expect(isRed(c, 10 + 4 * 3, 5)).toBe(false);
    const px = inked(c);
    expect(Math.min(...px.map(([x]) => x))).toBe(10);
    expect(Math.min(...px.map(([, y]) => y))).toBe(5);
    expect(Math.max(...px.map(([x]) => x))).toBe(10 + 15 - 1);
    expect(Math.max(...px.map(([, y]) => y))).toBe(5 + 21 - 1);
  });
});

describe('colours and palettes', () => {
  it('parses hex, rgb(), bgr() and named colours', () => {
    expect(parseColour('#FF7633')).toEqual([255, 118, 51]);
    expect(parseColour('#f00')).toEqual([255, 0, 0]);
    expect(parseColour('rgb(1, 2, 3)')).toEqual([1, 2, 3]);
    expect(parseColour('bgr(1, 2, 3)')).toEqual([3, 2, 1]);
    expect(parseColour('WHITE')).toEqual([255, 255, 255]);
    expect(parseColour('black')).toEqual([0, 0, 0]);
    expect(() => parseColour('purple-ish')).toThrow(/not a colour/);
    expect(() => parseColour('rgb(300, 0, 0)')).toThrow(/not a colour/);
  });

  it('resolves DEFAULT, ROBOFLOW, CUSTOM and Matplotlib palettes', () => {
    expect(resolvePalette('DEFAULT', 10, [])).toHaveLength(21);
    expect(resolvePalette('DEFAULT', 10, [])[0]).toEqual([0xa3, 0x51, 0xfb]);
    expect(resolvePalette('ROBOFLOW', 10, [])[5]).toEqual([0x4d, 0x04, 0x9a]);
    expect(resolvePalette('CUSTOM', 10, ['#000000', 'RED'])).toEqual([
      [0, 0, 0],
      [255, 0, 0],
    ]);
    expect(() => resolvePalette('CUSTOM', 10, [])).toThrow(/custom_colors/);
    const tab = resolvePalette('Matplotlib Tab10', 10, []);
    expect(tab[0]).toEqual([0x1f, 0x77, 0xb4]);
    expect(tab[9]).toEqual([0x17, 0xbe, 0xcf]);
    const vir = resolvePalette('Matplotlib Viridis', 5, []);
    expect(vir).toHaveLength(5);
    expect(vir[0]).toEqual([0x44, 0x01, 0x54]);
    expect(vir[4]).toEqual([0xfd, 0xe7, 0x25]);
    expect(() => resolvePalette('Matplotlib Nope', 10, [])).toThrow(/unknown color_palette/);
  });

  it('picks modulo the palette length, negative indices wrapping', () => {
    expect(pick(DEFAULT_PALETTE, 21)).toEqual(DEFAULT_PALETTE[0]);
    expect(pick(DEFAULT_PALETTE, 23)).toEqual(DEFAULT_PALETTE[2]);
    expect(pick(DEFAULT_PALETTE, -1)).toEqual(DEFAULT_PALETTE[20]);
  });
});
