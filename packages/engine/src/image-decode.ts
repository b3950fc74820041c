import sharp, { type Metadata, type Sharp } from 'sharp';
import { ImageDecodeError } from './errors.ts';

/**
 * Image decoding with sharp (libvips), giving the pixels the reference CLI's `cv2.imread` gives
 * (spec §5.5): upright (EXIF orientation applied), 8-bit RGB, greyscale replicated, alpha dropped
 * (not composited, like OpenCV's `IMREAD_COLOR`), the embedded colour profile ignored (a Display
 * P3 photo keeps its stored values, not sRGB conversions of them); 16-bit and CMYK inputs are
 * converted. JPEG and PNG pixels equal OpenCV's to the byte
 * (`test/fixtures/preprocess`).
 *
 * {@link decodeImage} reads only the header unless full pixels are asked for, so a file that
 * fails validation costs no decode; pixels are decoded once, on first use, and kept.
 */

/** Refuse images above ~100 MP: a 100 MP RGB image is 300 MB of pixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Container formats we decode; anything else sharp knows (SVG, PDF, raw vips) is refused. */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff', 'gif', 'heif', 'avif']);

export interface DecodeOptions {
  /** largest accepted width × height; default {@link DEFAULT_MAX_PIXELS} */
  maxPixels?: number;
  /** decode the pixels now (the caller will need them), not only the header */
  full?: boolean;
}

/** Raw interleaved 8-bit RGB pixels, row-major. */
export interface RgbPixels {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * An upright RGB image: either still encoded (bytes + header facts) or already decoded pixels.
 * Pixels are decoded at most once ({@link DecodedImage.rgb} memoises).
 */
export class DecodedImage {
  private pixels: Promise<RgbPixels> | null;
  /** memo of model inputs prepared from this image, keyed by pre-processing spec */
  readonly prepared = new Map<string, Promise<unknown>>();

  private constructor(
    /** upright width */
    readonly width: number,
    /** upright height */
    readonly height: number,
    /** container format (`jpeg`, `png`, ...) or `raw` for pixels made in memory (crops) */
    readonly format: string,
    private readonly encoded: Buffer | null,
    private readonly maxPixels: number,
    pixels: RgbPixels | null,
  ) {
    this.pixels = pixels ? Promise.resolve(pixels) : null;
  }

  /** Wraps pixels made in memory (crops, tests). */
  static fromPixels(p: RgbPixels): DecodedImage {
    if (p.data.length !== p.width * p.height * 3)
      throw new Error(`pixel buffer has ${p.data.length} bytes, expected ${p.width * p.height * 3}`);
    return new DecodedImage(p.width, p.height, 'raw', null, Number.MAX_SAFE_INTEGER, p);
  }

  /**
   * An image known by its size only, whose full-resolution pixels were never kept: a video frame
   * decoded at model size, with its model input memoised in {@link prepared}. Asking it for pixels
   * fails.
   */
  static withoutPixels(width: number, height: number): DecodedImage {
    return new DecodedImage(width, height, 'raw', null, Number.MAX_SAFE_INTEGER, null);
  }

  /** @internal used by {@link decodeImage} */
  static fromEncoded(
    bytes: Buffer,
    width: number,
    height: number,
    format: string,
    maxPixels: number,
  ): DecodedImage {
    return new DecodedImage(width, height, format, bytes, maxPixels, null);
  }

  /** true once pixels exist in memory (decoded or made there) */
  get hasPixels(): boolean {
    return this.pixels !== null;
  }

  /**
   * Drops decoded pixels that can be decoded again from the encoded bytes (else keeps them), so
   * that a large photo read only by a model's pre-processing does not stay in memory while the
   * model runs.
   */
  forgetPixels(): void {
    if (this.encoded !== null) this.pixels = null;
  }

  /** The original encoded bytes, when this image came from a file. */
  get bytes(): Buffer | null {
    return this.encoded;
  }

  /** Full-resolution upright RGB pixels (decoded on first call). */
  rgb(): Promise<RgbPixels> {
    if (this.pixels === null) {
      if (this.encoded === null) return Promise.reject(noPixels());
      const bytes = this.encoded;
      this.pixels = toRgb(openEncoded(bytes, this.maxPixels).rotate())
        .toBuffer({ resolveWithObject: true })
        .then(({ data, info }: { data: Buffer; info: { width: number; height: number } }) => {
          if (info.width !== this.width || info.height !== this.height) {
            throw new ImageDecodeError(
              'corrupt-image',
              `decoded size ${info.width}x${info.height} differs from the header's ${this.width}x${this.height}`,
            );
          }
          return { data, width: info.width, height: info.height };
        }, mapSharpError);
    }
    return this.pixels;
  }

  /**
   * A sharp pipeline over the upright image, for encoding it: from pixels when they exist, else
   * from the encoded bytes. The caller adds the output format.
   */
  async pipeline(): Promise<Sharp> {
    if (this.pixels) {
      const p = await this.pixels;
      return sharp(p.data, { raw: { width: p.width, height: p.height, channels: 3 } });
    }
    if (this.encoded === null) throw noPixels();
    return openEncoded(this.encoded, this.maxPixels).rotate();
  }
}

const noPixels = () =>
  new Error('the full-resolution pixels of this image were not kept (a video frame decoded at model size)');

function openEncoded(bytes: Buffer, maxPixels: number): Sharp {
  // failOn 'warning' makes truncated/corrupt JPEGs fail instead of decoding grey garbage;
  // ignoreIcc: sharp would convert to sRGB through an embedded profile, cv2.imread does not.
  return sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', ignoreIcc: true });
}

/** Ends a pipeline with the 8-bit sRGB, 3-channel raw output every consumer expects. */
export function toRgb(p: Sharp): Sharp {
  return p.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' });
}

/** Maps a sharp/libvips error to a stable reason. */
export function mapSharpError(err: unknown): never {
  if (err instanceof ImageDecodeError) throw err;
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0];
  if (/pixel limit/i.test(message)) throw new ImageDecodeError('image-too-large', first);
  if (/unsupported image format/i.test(message)) throw new ImageDecodeError('unsupported-format', first);
  if (/buffer is empty/i.test(message)) throw new ImageDecodeError('empty-file', 'the file is empty');
  throw new ImageDecodeError('corrupt-image', first);
}

/**
 * Reads an image's header (and, with `full`, its pixels). Throws {@link ImageDecodeError} with
 * reason `empty-file`, `unsupported-format`, `image-too-large` or `corrupt-image`.
 */
export async function decodeImage(bytes: Buffer, opts: DecodeOptions = {}): Promise<DecodedImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new ImageDecodeError('empty-file', 'the file is empty');
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: maxPixels }).metadata();
  } catch (err) {
    mapSharpError(err);
  }
  const format = meta.format ?? 'unknown';
  if (!ACCEPTED_FORMATS.has(format))
    throw new ImageDecodeError('unsupported-format', `image format "${format}" is not supported`);
  const { width, height } = meta;
  if (!width || !height) throw new ImageDecodeError('corrupt-image', 'the image has no size');
  if (width * height > maxPixels) {
    throw new ImageDecodeError('image-too-large', `${width}x${height} is more than ${maxPixels} pixels`);
  }
  // EXIF orientations 5–8 swap width and height once applied.
  const swap = (meta.orientation ?? 1) >= 5;
  const img = DecodedImage.fromEncoded(
    bytes,
    swap ? height : width,
    swap ? width : height,
    format,
    maxPixels,
  );
  if (opts.full) await img.rgb();
  return img;
}
