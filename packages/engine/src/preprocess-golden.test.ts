import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecodedImage, decodeImage } from './image-decode.ts';
import { type PreprocessSpec, preprocess, type ResizeMode } from './preprocess.ts';

/**
 * Model inputs equal, to the byte, to those the reference implementations make of the same files:
 * cv2.imread + cv2.resize(INTER_LINEAR) letterbox/stretch, Pillow's bilinear for the classifier
 * resize. The expectations were written once by test/fixtures/preprocess/make_fixtures.py (see the
 * README there for how and with which versions).
 */

const FIXTURES = new URL('../../../test/fixtures/preprocess/', import.meta.url);

interface Case {
  name: string;
  input: string | { synthetic: true; width: number; height: number };
  mode: ResizeMode;
  width: number;
  height: number;
  padding: number;
  sha256: string;
  /** the full expected bytes, for the cases kept in full */
  bytes?: string;
}

const fixture = (name: string) => readFileSync(new URL(name, FIXTURES));
const cases: Case[] = JSON.parse(fixture('cases.json').toString()).cases;

/** The script's synthetic image: `(3x² + 5y² + 7xy + 101c) mod 256`. */
function synthetic(width: number, height: number): DecodedImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++, i++) data[i] = (3 * x * x + 5 * y * y + 7 * x * y + 101 * c) % 256;
  return DecodedImage.fromPixels({ data, width, height });
}

/** The model input as HWC bytes (the tensor holds exactly `byte / 255` in float32). */
function toBytes(tensor: Float32Array, width: number, height: number): Buffer {
  const plane = width * height;
  const out = Buffer.alloc(plane * 3);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(tensor[c * plane + i] * 255);
  return out;
}

function firstDifference(actual: Buffer, expected: Buffer, width: number): string {
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      const px = Math.floor(i / 3);
      return `first difference at x=${px % width} y=${Math.floor(px / width)} channel ${i % 3}: ${actual[i]} vs ${expected[i]}`;
    }
  }
  return 'no difference';
}

describe('pre-processing equals the reference implementations byte for byte', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const image =
      typeof c.input === 'string'
        ? await decodeImage(fixture(c.input))
        : synthetic(c.input.width, c.input.height);
    const spec: PreprocessSpec = { width: c.width, height: c.height, mode: c.mode, paddingValue: c.padding };
    const { tensor } = await preprocess(image, spec);
    const actual = toBytes(tensor, c.width, c.height);
    if (c.bytes) {
      const expected = fixture(c.bytes);
      expect(actual.equals(expected), firstDifference(actual, expected, c.width)).toBe(true);
    }
    expect(createHash('sha256').update(actual).digest('hex')).toBe(c.sha256);
  });
});
