import type { DecodedImage } from './image-decode.ts';
import { roundHalfEven } from './numbers.ts';
import { resizeLinearOpenCv } from './resize/opencv-linear.ts';
import { resizeBilinearPillow } from './resize/pil-bilinear.ts';

/**
 * Model-input preparation (spec/workflows.md §4.3): resize per the model's mode, place into the
 * input canvas, and convert HWC u8 RGB to a CHW float32 tensor of `pixel / 255`.
 *
 * Every mode is "resize to (resizeWidth, resizeHeight), then put the result's top-left at
 * (offsetX, offsetY) in the input canvas, the rest being padding"; a negative offset crops.
 * Boxes map back with `src = (model - offset) / scale` (§4.5).
 */

export type ResizeMode = 'stretch' | 'letterbox' | 'center-crop' | 'shortest-edge-center-crop';

export interface PreprocessSpec {
  /** model input width */
  width: number;
  /** model input height */
  height: number;
  mode: ResizeMode;
  /** letterbox padding, 0–255 on every channel */
  paddingValue: number;
}

/** How a source image sits in the model input. */
export interface Geometry {
  srcWidth: number;
  srcHeight: number;
  inputWidth: number;
  inputHeight: number;
  resizeWidth: number;
  resizeHeight: number;
  /** where the resized image's left edge lands in the input (negative: cropped) */
  offsetX: number;
  offsetY: number;
  /** model pixels per source pixel, used to map boxes back */
  scaleX: number;
  scaleY: number;
  /** padding value (0–255) of the uncovered canvas */
  padValue: number;
}

/** A prepared model input: `3 × H × W` floats (one batch element) and its geometry. */
export interface Prepared {
  tensor: Float32Array;
  geometry: Geometry;
}

/** `-x` without producing `-0`. */
const neg = (x: number) => (x === 0 ? 0 : -x);

/** Computes the geometry of a mode (pure; the numbers §4.3 specifies). */
export function planGeometry(srcWidth: number, srcHeight: number, spec: PreprocessSpec): Geometry {
  const W = spec.width;
  const H = spec.height;
  const base = { srcWidth, srcHeight, inputWidth: W, inputHeight: H, padValue: 0 };
  switch (spec.mode) {
    case 'stretch':
      return {
        ...base,
        resizeWidth: W,
        resizeHeight: H,
        offsetX: 0,
        offsetY: 0,
        scaleX: W / srcWidth,
        scaleY: H / srcHeight,
      };
    case 'letterbox': {
      // Roboflow geometry (spec §4.3): floor sizes and floor half-padding (the remainder goes
      // right/bottom). Ultralytics' LetterBox splits the padding the same way (`round(d/2 ∓ 0.1)`)
      // but rounds the sizes, so where `side × scale` has a fraction ≥ .5 its side is 1 px longer.
      const scale = Math.min(W / srcWidth, H / srcHeight);
      const rw = Math.max(1, Math.floor(srcWidth * scale));
      const rh = Math.max(1, Math.floor(srcHeight * scale));
      return {
        ...base,
        resizeWidth: rw,
        resizeHeight: rh,
        offsetX: Math.floor((W - rw) / 2),
        offsetY: Math.floor((H - rh) / 2),
        scaleX: scale,
        scaleY: scale,
        padValue: spec.paddingValue,
      };
    }
    case 'center-crop': {
      // No scaling: the central W×H window; zero padding where the image is smaller.
      const off = (s: number, d: number) => (s <= d ? Math.floor((d - s) / 2) : neg(Math.floor((s - d) / 2)));
      return {
        ...base,
        resizeWidth: srcWidth,
        resizeHeight: srcHeight,
        offsetX: off(srcWidth, W),
        offsetY: off(srcHeight, H),
        scaleX: 1,
        scaleY: 1,
      };
    }
    case 'shortest-edge-center-crop': {
      // Ultralytics classification: shorter side to the input size, the longer one truncated as
      // torchvision's Resize computes it (`int(size * long / short)`: multiplying by a rounded
      // ratio instead is one pixel short for e.g. 5x45 at 224), then a centred crop with
      // round-half-even offsets (CenterCrop).
      const byWidth = W * srcHeight >= H * srcWidth;
      const rw = byWidth ? W : Math.max(W, Math.floor((H * srcWidth) / srcHeight));
      const rh = byWidth ? Math.max(H, Math.floor((W * srcHeight) / srcWidth)) : H;
      return {
        ...base,
        resizeWidth: rw,
        resizeHeight: rh,
        offsetX: neg(roundHalfEven((rw - W) / 2)),
        offsetY: neg(roundHalfEven((rh - H) / 2)),
        scaleX: rw / srcWidth,
        scaleY: rh / srcHeight,
      };
    }
  }
}

/** `i / 255` for every byte value, computed once (exactly what a float division gives). */
const BYTE_TO_UNIT = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

/**
 * Writes HWC u8 RGB `src` (sw × sh) into CHW float `dst` (W × H, at `dstOffset`) with its top-left
 * at (ox, oy); uncovered pixels get `padValue / 255`.
 */
export function writeChw(
  dst: Float32Array,
  dstOffset: number,
  W: number,
  H: number,
  src: Uint8Array,
  sw: number,
  sh: number,
  ox: number,
  oy: number,
  padValue: number,
): void {
  const plane = W * H;
  const x0 = Math.max(0, ox);
  const x1 = Math.min(W, ox + sw);
  const y0 = Math.max(0, oy);
  const y1 = Math.min(H, oy + sh);
  // Only the padding is filled (not the whole tensor first): `dst` may be a reused buffer, and
  // writing 4.9 MB twice per 640² frame shows in video throughput.
  const pad = BYTE_TO_UNIT[padValue & 255];
  const empty = x1 <= x0 || y1 <= y0;
  for (let c = 0; c < 3; c++) {
    const base = dstOffset + c * plane;
    if (empty) {
      dst.fill(pad, base, base + plane);
      continue;
    }
    if (y0 > 0) dst.fill(pad, base, base + y0 * W);
    if (y1 < H) dst.fill(pad, base + y1 * W, base + plane);
    if (x0 > 0 || x1 < W) {
      for (let y = y0; y < y1; y++) {
        const row = base + y * W;
        if (x0 > 0) dst.fill(pad, row, row + x0);
        if (x1 < W) dst.fill(pad, row + x1, row + W);
      }
    }
  }
  if (empty) return;
  const r = dstOffset;
  const g = dstOffset + plane;
  const b = dstOffset + 2 * plane;
  const lut = BYTE_TO_UNIT;
  for (let y = y0; y < y1; y++) {
    let s = ((y - oy) * sw + (x0 - ox)) * 3;
    let d = y * W + x0;
    const end = y * W + x1;
    while (d < end) {
      dst[r + d] = lut[src[s]];
      dst[g + d] = lut[src[s + 1]];
      dst[b + d] = lut[src[s + 2]];
      s += 3;
      d++;
    }
  }
}

function specKey(spec: PreprocessSpec): string {
  return `${spec.mode}|${spec.width}x${spec.height}|${spec.paddingValue}`;
}

/**
 * Prepares `image` for a model (memoised per spec on the image, so a prefetch can start it while
 * the previous image is in the model). The full-resolution pixels are decoded (on libuv's pool)
 * and resized here as the reference implementations do, bit for bit: OpenCV's `INTER_LINEAR`
 * for letterbox and stretch (Ultralytics' and Roboflow's detectors), Pillow's bilinear for
 * `shortest-edge-center-crop` (Ultralytics' classifier, through torchvision's `Resize`).
 */
export function preprocess(image: DecodedImage, spec: PreprocessSpec): Promise<Prepared> {
  const key = specKey(spec);
  let p = image.prepared.get(key) as Promise<Prepared> | undefined;
  if (!p) {
    p = prepare(image, spec);
    // A failed preparation must not surface as an unhandled rejection if nobody awaits it yet.
    p.catch(() => {});
    image.prepared.set(key, p);
  }
  return p;
}

/**
 * Memoises on `image` its model input for `spec`, made from `pixels`: the image already resized to
 * the spec's resize size (by the video decoder), HWC u8 RGB. Only the padding and the CHW float
 * conversion are left to do.
 */
export function preprocessScaled(
  image: DecodedImage,
  spec: PreprocessSpec,
  pixels: Uint8Array,
  /** a tensor of the right size to overwrite (no longer read by anyone), instead of a new one */
  reuse?: Float32Array,
): Prepared {
  const geometry = planGeometry(image.width, image.height, spec);
  const { resizeWidth: rw, resizeHeight: rh } = geometry;
  if (pixels.length !== rw * rh * 3)
    throw new Error(`scaled frame has ${pixels.length} bytes, expected ${rw}x${rh}x3`);
  const size = 3 * spec.width * spec.height;
  const tensor = toTensor(pixels, spec, geometry, reuse?.length === size ? reuse : new Float32Array(size));
  const prepared = { tensor, geometry };
  image.prepared.set(specKey(spec), Promise.resolve(prepared));
  return prepared;
}

/** Writes resized HWC pixels into `tensor` (the spec's CHW model input) at the planned offset. */
function toTensor(pixels: Uint8Array, spec: PreprocessSpec, g: Geometry, tensor: Float32Array): Float32Array {
  writeChw(
    tensor,
    0,
    spec.width,
    spec.height,
    pixels,
    g.resizeWidth,
    g.resizeHeight,
    g.offsetX,
    g.offsetY,
    g.padValue,
  );
  return tensor;
}

async function prepare(image: DecodedImage, spec: PreprocessSpec): Promise<Prepared> {
  const geometry = planGeometry(image.width, image.height, spec);
  // pixels decoded only for this are not kept: whatever else needs them decoded them up front
  const decodedHere = !image.hasPixels;
  const { data } = await image.rgb();
  const pixels = resized(data, geometry, spec.mode);
  const tensor = toTensor(pixels, spec, geometry, new Float32Array(3 * spec.width * spec.height));
  if (decodedHere) image.forgetPixels();
  return { tensor, geometry };
}

/** HWC RGB `rgb` (the source size of `g`) at the planned resize size. */
function resized(rgb: Uint8Array, g: Geometry, mode: ResizeMode): Uint8Array {
  const { srcWidth: sw, srcHeight: sh, resizeWidth: rw, resizeHeight: rh } = g;
  if (rw === sw && rh === sh) return rgb;
  return mode === 'shortest-edge-center-crop'
    ? resizeBilinearPillow(rgb, sw, sh, rw, rh)
    : resizeLinearOpenCv(rgb, sw, sh, rw, rh);
}
