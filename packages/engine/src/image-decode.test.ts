import zlib from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError } from './errors.ts';
import { DecodedImage, decodeImage } from './image-decode.ts';

/** A PNG chunk with its CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A tiny PNG file that declares a huge size (only a few bytes of pixel data). */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ImageDecodeError);
    return (e as ImageDecodeError).reason;
  }
  return 'no error';
}

const solid = (w: number, h: number, rgb: [number, number, number]) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });

describe('decodeImage', () => {
  it('reads the header only unless asked for pixels', async () => {
    const jpg = await solid(64, 48, [200, 10, 30]).jpeg().toBuffer();
    const img = await decodeImage(jpg);
    expect([img.width, img.height, img.format, img.hasPixels]).toEqual([64, 48, 'jpeg', false]);
    const full = await decodeImage(jpg, { full: true });
    expect(full.hasPixels).toBe(true);
    const px = await full.rgb();
    expect(px.data.length).toBe(64 * 48 * 3);
    expect(Math.abs(px.data[0] - 200)).toBeLessThan(6);
  });

  it('refuses an empty file', async () => {
    expect(await reason(decodeImage(Buffer.alloc(0)))).toBe('empty-file');
  });

  it('refuses bytes that are no image', async () => {
    expect(await reason(decodeImage(Buffer.from('definitely not an image')))).toBe('unsupported-format');
  });

  it('refuses SVG (a format sharp could render but we do not accept)', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    );
    expect(await reason(decodeImage(svg))).toBe('unsupported-format');
  });

  it('reports a truncated JPEG as corrupt when its pixels are decoded', async () => {
    const jpg = await solid(64, 64, [1, 2, 3]).jpeg().toBuffer();
    const cut = jpg.subarray(0, Math.floor(jpg.length / 2));
    expect(await reason(decodeImage(cut, { full: true }))).toBe('corrupt-image');
    // depending on where the file ends, the header read or the first pixel access fails
    expect(await reason(decodeImage(cut).then((img) => img.rgb()))).toBe('corrupt-image');
    const tail = jpg.subarray(0, jpg.length - 40);
    expect(await reason(decodeImage(tail).then((img) => img.rgb()))).toBe('corrupt-image');
  });

  it('refuses a huge declared size before allocating anything', async () => {
    expect(await reason(decodeImage(pngDeclaring(20000, 20000)))).toBe('image-too-large');
    expect(await reason(decodeImage(pngDeclaring(2000, 2000), { maxPixels: 1_000_000 }))).toBe(
      'image-too-large',
    );
  });

  it('drops alpha (no compositing) and expands greyscale to RGB', async () => {
    const grey = await sharp({
      create: { width: 4, height: 4, channels: 4, background: { r: 100, g: 100, b: 100, alpha: 0.5 } },
    })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const px = await (await decodeImage(grey)).rgb();
    expect(px.data.length).toBe(4 * 4 * 3);
    expect([...px.data.subarray(0, 3)]).toEqual([100, 100, 100]);
  });

  it('converts 16-bit TIFF and PNG to 8 bits', async () => {
    const u16 = new Uint16Array(4 * 4 * 3).fill(40000);
    const raw = sharp(u16, { raw: { width: 4, height: 4, channels: 3 } }).toColourspace('rgb16');
    for (const bytes of [
      await raw.clone().tiff({ compression: 'none' }).toBuffer(),
      await raw.clone().png().toBuffer(),
    ]) {
      expect((await sharp(bytes).metadata()).depth).toBe('ushort');
      const px = await (await decodeImage(bytes)).rgb();
      expect(px.data.length).toBe(4 * 4 * 3);
      expect(px.data[0]).toBe(Math.round((40000 / 65535) * 255));
    }
  });

  it('converts CMYK JPEG to sRGB', async () => {
    const cmyk = await solid(8, 8, [255, 0, 0]).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const px = await (await decodeImage(cmyk)).rgb();
    expect(px.data.length).toBe(8 * 8 * 3);
    expect(px.data[0]).toBeGreaterThan(180);
    expect(px.data[1]).toBeLessThan(60);
  });

  it('applies EXIF orientation', async () => {
    // 40x20, left half red, right half blue, tagged "rotate 90° clockwise to display"
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw[(y * 40 + x) * 3 + (x < 20 ? 0 : 2)] = 255;
    const jpg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const img = await decodeImage(jpg);
    expect([img.width, img.height]).toEqual([20, 40]);
    const px = await img.rgb();
    expect([px.width, px.height]).toEqual([20, 40]);
    // after rotating clockwise the red (left) half is on top
    expect(px.data[0]).toBeGreaterThan(200);
    expect(px.data[39 * 20 * 3 + 2]).toBeGreaterThan(200);
  });

  it('wraps pixels made in memory', async () => {
    const img = DecodedImage.fromPixels({ data: Buffer.alloc(2 * 3 * 3, 7), width: 2, height: 3 });
    expect([img.width, img.height, img.hasPixels]).toEqual([2, 3, true]);
    expect(() => DecodedImage.fromPixels({ data: Buffer.alloc(5), width: 2, height: 3 })).toThrow();
  });
});
