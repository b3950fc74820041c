import { InvalidObjectKeyError } from './invalid-object-key-error.ts';

/** S3's limit on a key's length, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * Limit on one `/`-separated segment, in UTF-8 bytes. Filesystems allow 255 (NAME_MAX); the fs driver
 * needs room for its `.vb-meta.<name>.json` sidecar next to the object.
 */
export const MAX_SEGMENT_BYTES = 200;

/**
 * Segment prefix reserved for the fs driver's sidecar and temp files. Refused by both drivers so that a
 * key valid for one driver is valid for the other.
 */
export const RESERVED_SEGMENT_PREFIX = '.vb-';

// C0 controls and DEL (NUL included): they break logs, shells and some S3 tools. Lone UTF-16 surrogates
// cannot be encoded as UTF-8, so the stored key would differ from the one given.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f]|\p{Surrogate}/u;

/**
 * Why `value` cannot appear in a key (control characters, a backslash, a leading `/`, over
 * {@link MAX_KEY_BYTES}), or null when its characters are fine. The api's name rules build on it.
 */
export function keyCharsProblem(value: string): string | null {
  if (typeof value !== 'string') return 'is not a string';
  if (FORBIDDEN_CHARS.test(value)) return 'contains a control character, NUL or a lone surrogate';
  if (value.includes('\\')) return 'contains a backslash (use "/" as the separator)';
  if (value.startsWith('/')) return 'is absolute (keys are relative paths)';
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`;
  return null;
}

/**
 * What keeps `segment` from being one `/`-separated segment of a key (`an empty segment`, `a ".."
 * segment`, a reserved prefix, over {@link MAX_SEGMENT_BYTES}), or null when both drivers store it.
 * The single source of truth for names that become key segments: the api's id and file-name rules
 * derive from it, so nothing that passes the api's checks is refused by a store.
 */
export function segmentProblem(segment: string): string | null {
  if (segment === '') return 'an empty segment';
  if (segment === '.' || segment === '..') return `a "${segment}" segment`;
  if (segment.startsWith(RESERVED_SEGMENT_PREFIX))
    return `a segment starting with the reserved "${RESERVED_SEGMENT_PREFIX}"`;
  if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES)
    return `a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  return null;
}

function checkChars(value: string): void {
  const problem = keyCharsProblem(value);
  if (problem) throw new InvalidObjectKeyError(String(value), problem);
}

function checkSegment(whole: string, segment: string): void {
  const problem = segmentProblem(segment);
  if (problem) throw new InvalidObjectKeyError(whole, `has ${problem}`);
}

/**
 * Checks that `key` is a safe, portable object key: a non-empty relative path of `/`-separated segments,
 * none of them empty, `.`, `..` or reserved, with no backslash or control character.
 * @throws InvalidObjectKeyError
 */
export function assertValidKey(key: string): void {
  checkChars(key);
  if (key === '') throw new InvalidObjectKeyError(key, 'is empty');
  for (const segment of key.split('/')) checkSegment(key, segment);
}

/**
 * Checks a listing prefix: `''`, or a key-like string whose last segment may be partial or empty (so
 * `jobs/`, `jobs/4` and `jobs/42/` are all accepted). Every complete segment follows the key rules.
 * @throws InvalidObjectKeyError
 */
export function assertValidPrefix(prefix: string): void {
  checkChars(prefix);
  const segments = prefix.split('/');
  const last = segments.pop() ?? '';
  for (const segment of segments) checkSegment(prefix, segment);
  if (last.startsWith(RESERVED_SEGMENT_PREFIX)) {
    throw new InvalidObjectKeyError(
      prefix,
      `starts a segment with the reserved "${RESERVED_SEGMENT_PREFIX}"`,
    );
  }
}

/** Orders keys byte-wise by their UTF-8 encoding, the order S3 lists in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Page tokens of both drivers are the last key of the previous page, base64url-encoded: the next page
 * starts after it (S3's `start-after`). Unlike S3 continuation tokens these survive deletions between
 * pages, and they sidestep s3rver's continuation tokens, which need OpenSSL's legacy provider.
 */
export function encodeListToken(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

/** @throws TypeError when `token` was not made by {@link encodeListToken} */
export function decodeListToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (key === '' || encodeListToken(key) !== token) {
    throw new TypeError(`Invalid list token: ${JSON.stringify(token)}`);
  }
  return key;
}

/**
 * Checks `pageSize`, lowering it to `max`.
 * @throws RangeError when it is not a positive integer
 */
export function normalizePageSize(pageSize: number | undefined, max: number): number {
  if (pageSize === undefined) return max;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
  }
  return Math.min(pageSize, max);
}

/**
 * Checks a byte range.
 * @throws RangeError when `start` is not a non-negative integer or `end` is below `start`
 */
export function assertValidRange(range: { start: number; end?: number }): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new RangeError(`range.start must be a non-negative integer, got ${start}`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new RangeError(`range.end must be an integer >= start (${start}), got ${end}`);
  }
}
