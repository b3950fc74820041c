import { describe, expect, it } from 'vitest';
import {
  aggregateResults,
  compareCodePoints,
  deductImages,
  pythonJson,
  pythonNumber,
  toCsv,
  toJsonl,
} from './results-format.ts';

describe('pythonJson', () => {
  it('uses Python separators and ASCII escaping', () => {
    expect(pythonJson({ a: [1, 2.5, 'é'], b: { c: null, d: true } })).toBe(
      '{"a": [1, 2.5, "\\u00e9"], "b": {"c": null, "d": true}}',
    );
    expect(pythonJson('😀\u007f"\n')).toBe('"\\ud83d\\ude00\\u007f\\"\\n"');
    expect(pythonJson([])).toBe('[]');
    expect(pythonJson({})).toBe('{}');
  });

  it('formats floats as Python repr', () => {
    expect(pythonNumber(0.1)).toBe('0.1');
    expect(pythonNumber(0.0001)).toBe('0.0001');
    expect(pythonNumber(0.00001)).toBe('1e-05');
    expect(pythonNumber(1.5e-7)).toBe('1.5e-07');
    expect(pythonNumber(1.5e16)).toBe('1.5e+16');
    expect(pythonNumber(123456.789)).toBe('123456.789');
    expect(pythonNumber(-0)).toBe('0');
    expect(pythonNumber(Number.NaN)).toBe('null');
  });
});

const ROWS = [
  {
    image: 'b.jpg',
    result: {
      det: { image: { width: 2, height: 2 }, predictions: [] },
      n: 2,
      flag: true,
      note: 'a, "q"',
      vis: { type: 'base64', value: 'AAAA' },
    },
  },
  { image: 'a.jpg', result: { det: null, n: 0.5, flag: false, note: null, extra: [1] } },
];

describe('toJsonl (§3.8)', () => {
  it('sorts by image name, appends image last, deducts images', () => {
    expect(toJsonl(ROWS)).toBe(
      '{"det": null, "n": 0.5, "flag": false, "note": null, "extra": [1], "image": "a.jpg"}\n' +
        '{"det": {"image": {"width": 2, "height": 2}, "predictions": []}, "n": 2, "flag": true, "note": "a, \\"q\\"", "vis": "<deducted_image>", "image": "b.jpg"}\n',
    );
  });

  it('is empty for no rows', () => {
    expect(toJsonl([])).toBe('');
  });
});

describe('toCsv (§3.8)', () => {
  it('unions columns in first-seen order; JSON cells; True/False; empty nulls; minimal quoting', () => {
    expect(toCsv(ROWS)).toBe(
      'det,n,flag,note,extra,image,vis\n' +
        ',0.5,False,,[1],a.jpg,\n' +
        '"{""image"": {""width"": 2, ""height"": 2}, ""predictions"": []}",2,True,"a, ""q""",,b.jpg,<deducted_image>\n',
    );
  });
});

describe('helpers', () => {
  it('deducts nested image objects', () => {
    expect(
      deductImages({ a: [{ type: 'base64', value: 'x', video_metadata: {} }], b: { type: 'url' } }),
    ).toEqual({ a: ['<deducted_image>'], b: { type: 'url' } });
  });

  it('orders names by code point like Python', () => {
    const names = ['b', '\uffff', '😀', 'B', 'a10', 'a9'];
    expect([...names].sort(compareCodePoints)).toEqual(['B', 'a10', 'a9', 'b', '\uffff', '😀']);
  });

  it('picks content types', () => {
    expect(aggregateResults(ROWS, 'csv').contentType).toBe('text/csv');
    expect(aggregateResults(ROWS, 'jsonl').body.toString()).toBe(toJsonl(ROWS));
  });
});
