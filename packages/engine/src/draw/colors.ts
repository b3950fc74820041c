import type { Rgb } from './canvas.ts';

/**
 * Colour strings and palettes of the visualisation blocks (spec/workflows.md §2.13): `DEFAULT`,
 * `ROBOFLOW`, `CUSTOM` and Matplotlib colormaps sampled to `palette_size` colours.
 */

function hex(h: string): Rgb {
  return [
    Number.parseInt(h.slice(0, 2), 16),
    Number.parseInt(h.slice(2, 4), 16),
    Number.parseInt(h.slice(4, 6), 16),
  ];
}
const hexList = (s: string): Rgb[] => s.split(' ').map(hex);

/** supervision's default palette (21 colours, spec §2.13). */
export const DEFAULT_PALETTE: readonly Rgb[] = hexList(
  'A351FB FF4040 FFA1A0 FF7633 FFB633 D1D435 4CFB12 94CF1A 40DE8A 1B9640 00D6C1 2E9CAA 00C4FF 364797 6675FF 0019EF 863AFF 530087 CD3AFF FF97CA FF39C9',
);
/** Roboflow's palette (6 colours, spec §2.13). */
export const ROBOFLOW_PALETTE: readonly Rgb[] = hexList('C28DFC A351FB 8315F9 6706CE 5905B3 4D049A');

/** Named colours accepted in colour strings (supervision's `Color` constants). */
const NAMED: Record<string, Rgb> = {
  WHITE: [255, 255, 255],
  BLACK: [0, 0, 0],
  RED: [255, 0, 0],
  GREEN: [0, 255, 0],
  BLUE: [0, 0, 255],
  YELLOW: [255, 255, 0],
  ROBOFLOW: hex('A351FB'),
};

/**
 * Matplotlib colormaps we can sample. Qualitative maps are their listed colours; perceptual
 * maps are piecewise-linear through six samples at 0, 0.2, …, 1 (close to, not bit-equal with,
 * Matplotlib's 256-entry tables — pixel parity is not a goal, §2.13).
 */
const MATPLOTLIB: Record<string, { listed: boolean; colours: readonly Rgb[] }> = {
  Viridis: { listed: false, colours: hexList('440154 414487 2A788E 22A884 7AD151 FDE725') },
  Plasma: { listed: false, colours: hexList('0D0887 6A00A8 B12A90 E16462 FCA636 F0F921') },
  Inferno: { listed: false, colours: hexList('000004 420A68 932667 DD513A FCA50A FCFFA4') },
  Magma: { listed: false, colours: hexList('000004 3B0F70 8C2981 DE4968 FE9F6D FCFDBF') },
  Cividis: { listed: false, colours: hexList('00224E 35456C 666970 948E77 C8B866 FEE838') },
  Tab10: {
    listed: true,
    colours: hexList('1F77B4 FF7F0E 2CA02C D62728 9467BD 8C564B E377C2 7F7F7F BCBD22 17BECF'),
  },
  Set1: { listed: true, colours: hexList('E41A1C 377EB8 4DAF4A 984EA3 FF7F00 FFFF33 A65628 F781BF 999999') },
  Set2: { listed: true, colours: hexList('66C2A5 FC8D62 8DA0CB E78AC3 A6D854 FFD92F E5C494 B3B3B3') },
  Dark2: { listed: true, colours: hexList('1B9E77 D95F02 7570B3 E7298A 66A61E E6AB02 A6761D 666666') },
  Pastel1: {
    listed: true,
    colours: hexList('FBB4AE B3CDE3 CCEBC5 DECBE4 FED9A6 FFFFCC E5D8BD FDDAEC F2F2F2'),
  },
  Accent: { listed: true, colours: hexList('7FC97F BEAED4 FDC086 FFFF99 386CB0 F0027F BF5B17 666666') },
};

/** Every accepted `color_palette` value. */
export const PALETTE_NAMES: readonly string[] = [
  'DEFAULT',
  'CUSTOM',
  'ROBOFLOW',
  ...Object.keys(MATPLOTLIB).map((n) => `Matplotlib ${n}`),
];

/**
 * Parses `#RRGGBB` / `#RGB`, `rgb(r, g, b)`, `bgr(b, g, r)` or a named colour.
 * @throws Error naming the accepted forms
 */
export function parseColour(s: string): Rgb {
  const v = s.trim();
  let m = /^#([0-9a-fA-F]{6})$/.exec(v);
  if (m) return hex(m[1]);
  m = /^#([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F])$/.exec(v);
  if (m) return hex(m[1] + m[1] + m[2] + m[2] + m[3] + m[3]);
  m = /^(rgb|bgr)\s*\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$/i.exec(v);
  if (m) {
    const n = [Number(m[2]), Number(m[3]), Number(m[4])];
    if (n.every((x) => x <= 255))
      return m[1].toLowerCase() === 'rgb' ? [n[0], n[1], n[2]] : [n[2], n[1], n[0]];
  }
  const named = NAMED[v.toUpperCase()];
  if (named) return named;
  throw new Error(
    `"${s}" is not a colour: use "#RRGGBB", "rgb(r, g, b)", "bgr(b, g, r)" or one of ${Object.keys(NAMED).join(', ')}`,
  );
}

/** Literal check for colour fields: null when `v` parses. */
export function colourProblem(v: unknown): string | null {
  if (typeof v !== 'string') return 'must be a colour string';
  try {
    parseColour(v);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Samples a Matplotlib colormap at `n` evenly spaced points like `colormap.resampled(n)`. */
function sampleMatplotlib(map: { listed: boolean; colours: readonly Rgb[] }, n: number): Rgb[] {
  const out: Rgb[] = [];
  const k = map.colours.length;
  for (let i = 0; i < n; i++) {
    const x = n === 1 ? 0 : i / (n - 1);
    if (map.listed) {
      out.push(map.colours[Math.min(k - 1, Math.floor(x * k))]);
      continue;
    }
    const pos = x * (k - 1);
    const a = Math.min(k - 2, Math.floor(pos));
    const f = pos - a;
    const [c0, c1] = [map.colours[a], map.colours[a + 1]];
    out.push([0, 1, 2].map((j) => Math.round(c0[j] + (c1[j] - c0[j]) * f)) as unknown as Rgb);
  }
  return out;
}

/**
 * The palette of a visualisation step.
 * @throws Error for an unknown name, or `CUSTOM` with no (or an unparsable) colour
 */
export function resolvePalette(name: string, paletteSize: number, customColours: readonly string[]): Rgb[] {
  if (name === 'DEFAULT') return [...DEFAULT_PALETTE];
  if (name === 'ROBOFLOW') return [...ROBOFLOW_PALETTE];
  if (name === 'CUSTOM') {
    if (customColours.length === 0)
      throw new Error('color_palette "CUSTOM" needs at least one custom_colors entry');
    return customColours.map(parseColour);
  }
  const m = /^Matplotlib (.+)$/.exec(name);
  const map = m ? MATPLOTLIB[m[1]] : undefined;
  if (!map) throw new Error(`unknown color_palette "${name}" (supported: ${PALETTE_NAMES.join(', ')})`);
  return sampleMatplotlib(map, Math.max(1, Math.round(paletteSize)));
}

/** Palette entry for an index, wrapping modulo the palette length (negative indices too). */
export function pick(palette: readonly Rgb[], index: number): Rgb {
  const n = palette.length;
  return palette[((index % n) + n) % n];
}
