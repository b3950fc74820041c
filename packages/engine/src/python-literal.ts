/**
 * A reader of the Python literals that Ultralytics writes into ONNX metadata with `str()`: the class
 * names dict (`{0: 'person', 1: "driver's seat"}`), lists (`[640, 640]`) and scalars. It accepts
 * dicts, lists, tuples, strings (single or double quotes, with escapes), ints, floats, True, False
 * and None; anything else is a {@link PythonLiteralError}.
 */

/** Text that is not a Python literal of the supported kinds. */
export class PythonLiteralError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonLiteralError';
  }
}

/** A parsed literal: dicts become Maps, so integer keys stay integers. */
export type PythonValue = string | number | boolean | null | PythonValue[] | Map<PythonValue, PythonValue>;

const ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  t: '\t',
  r: '\r',
  '0': '\0',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
};

/** Parses one literal; the whole text must be consumed. */
export function parsePythonLiteral(text: string): PythonValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new PythonLiteralError(`${what} at offset ${i} of ${JSON.stringify(text.slice(0, 80))}`);
  };
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (ch: string) => {
    skipSpace();
    if (text[i] !== ch) fail(`expected "${ch}"`);
    i++;
  };
  const str = (): string => {
    const quote = text[i++];
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i++];
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[i++];
      if (e === 'x' || e === 'u' || e === 'U') {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = text.slice(i, i + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(`bad \\${e} escape`);
        out += String.fromCodePoint(Number.parseInt(hex, 16));
        i += n;
      } else if (e in ESCAPES) out += ESCAPES[e];
      else out += `\\${e}`; // Python keeps unknown escapes as written
    }
  };
  const sequence = (close: string): PythonValue[] => {
    const items: PythonValue[] = [];
    skipSpace();
    while (text[i] !== close) {
      items.push(value());
      skipSpace();
      if (text[i] === ',') i++;
      else if (text[i] !== close) fail(`expected "," or "${close}"`);
      skipSpace();
    }
    i++;
    return items;
  };
  const value = (): PythonValue => {
    skipSpace();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (c === '[') {
      i++;
      return sequence(']');
    }
    if (c === '(') {
      i++;
      return sequence(')');
    }
    if (c === '{') {
      i++;
      const map = new Map<PythonValue, PythonValue>();
      skipSpace();
      while (text[i] !== '}') {
        const k = value();
        expect(':');
        map.set(k, value());
        skipSpace();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('expected "," or "}"');
        skipSpace();
      }
      i++;
      return map;
    }
    const word = /^(True|False|None|[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?))/.exec(
      text.slice(i),
    );
    if (!word) return fail('expected a literal');
    i += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0]);
  };
  const v = value();
  skipSpace();
  if (i !== text.length) fail('unexpected text after the literal');
  return v;
}
