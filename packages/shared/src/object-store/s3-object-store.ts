import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { Client, type ItemBucketMetadata } from 'minio';
import { bodyChunks, fixedSizeParts, isInMemoryBody, toBuffer } from './body.ts';
import {
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  decodeListToken,
  encodeListToken,
  normalizePageSize,
} from './object-key.ts';
import { ObjectNotFoundError } from './object-not-found-error.ts';
import {
  type ByteRange,
  DEFAULT_CONTENT_TYPE,
  type ListOptions,
  type ListPage,
  MAX_LIST_PAGE_SIZE,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

const MiB = 1024 * 1024;

/** S3's smallest allowed part (all but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest allowed part. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** S3's limit on parts per upload. */
const MAX_PARTS = 10_000;

/** Options of {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  /** Server URL, e.g. `http://127.0.0.1:9000` or `https://s3.eu-west-1.amazonaws.com`; TLS follows the scheme. */
  endPoint: string;
  accessKey: string;
  secretKey: string;
  /** Created at open time when missing. */
  bucket: string;
  /** @default 'us-east-1' */
  region?: string;
  /**
   * Path-style URLs (`host/bucket/key`), which MinIO, s3rver and most self-hosted servers need.
   * @default true
   */
  pathStyle?: boolean;
  /**
   * Streams are uploaded in parts of this many bytes: a stream that ends within the first part is sent
   * as one PUT, a longer one as a multipart upload. Memory per concurrent put is at most about two parts.
   * Raised automatically when a known `size` would need more than 10,000 parts.
   * @default 16 MiB (5 MiB .. 5 GiB)
   */
  partSize?: number;
  /**
   * Retries of a request answered 408, 429, 500, 502, 503, 504 (exponential backoff from 100 ms). Every
   * request this driver sends has an in-memory body, so retrying is safe.
   * @default 3 (the minio client's own default is 1)
   */
  maxRetries?: number;
}

interface S3ErrorLike {
  code?: string;
}

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound']);

function s3Code(err: unknown): string | undefined {
  return (err as S3ErrorLike | undefined)?.code;
}

/** RFC 3986 encoding, as S3 signatures expect for query values. */
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * An {@link ObjectStore} on S3 or any S3-compatible server (MinIO, s3rver, Ceph RGW), through the `minio`
 * client.
 *
 * Uploads do not use `Client.putObject` for streams: it buffers any stream shorter than its part size
 * whole (up to 64 MiB by default), and its multipart path first calls `GET ?uploads` to resume an earlier
 * upload of the same key, which s3rver answers with 501 and which could splice parts of a concurrent
 * writer's upload into ours. Instead this driver reads the stream part by part: one part → a plain PUT;
 * more → CreateMultipartUpload, UploadPart (the next part is read while the previous one uploads),
 * CompleteMultipartUpload, and a best-effort AbortMultipartUpload on failure (s3rver answers 405 to
 * aborts; give real buckets an AbortIncompleteMultipartUpload lifecycle rule).
 */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: Client;
  private readonly agent: http.Agent;
  private readonly region: string;
  private readonly partSize: number;

  private constructor(options: S3ObjectStoreOptions) {
    let url: URL;
    try {
      url = new URL(options.endPoint);
    } catch (err) {
      throw new TypeError(
        `S3 endPoint must be a URL such as http://127.0.0.1:9000, got ${JSON.stringify(options.endPoint)}`,
        {
          cause: err,
        },
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`S3 endPoint must use http or https, got ${JSON.stringify(options.endPoint)}`);
    }
    const partSize = options.partSize ?? 16 * MiB;
    if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
      throw new RangeError(
        `S3 partSize must be an integer from ${MIN_PART_SIZE} to ${MAX_PART_SIZE}, got ${partSize}`,
      );
    }
    const useSSL = url.protocol === 'https:';
    this.bucket = options.bucket;
    this.region = options.region ?? 'us-east-1';
    this.partSize = partSize;
    // Our own keep-alive agent, so close() can release its sockets.
    this.agent = useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.client = new Client({
      endPoint: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: this.region,
      pathStyle: options.pathStyle ?? true,
      transportAgent: this.agent,
      retryOptions: { maximumRetryCount: options.maxRetries ?? 3, maximumDelayMs: 10_000 },
    });
  }

  /** Connects, creates the bucket if it is missing, and returns the store. */
  static async open(options: S3ObjectStoreOptions): Promise<S3ObjectStore> {
    const store = new S3ObjectStore(options);
    try {
      await store.ensureBucket();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  private async ensureBucket(): Promise<void> {
    if (await this.client.bucketExists(this.bucket)) return;
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (err) {
      // Another process created it between our check and our create.
      const code = s3Code(err);
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
      if (!(await this.client.bucketExists(this.bucket))) throw err;
    }
  }

  async put(key: string, body: ObjectBody, opts: PutOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    const contentType = opts.contentType ?? DEFAULT_CONTENT_TYPE;
    if (isInMemoryBody(body)) {
      const buf = toBuffer(body);
      // Runs the size check without copying.
      for await (const _ of bodyChunks(key, buf, opts.size)) void _;
      return this.putSingle(key, buf, contentType);
    }
    const partSize = this.partSizeFor(opts.size);
    const parts = fixedSizeParts(bodyChunks(key, body, opts.size), partSize)[Symbol.asyncIterator]();
    try {
      const first = await parts.next();
      if (first.done) return await this.putSingle(key, Buffer.alloc(0), contentType);
      const second = await parts.next();
      if (second.done) return await this.putSingle(key, first.value, contentType);
      return await this.putMultipart(key, contentType, first.value, second.value, parts, partSize);
    } finally {
      // On an early exit this destroys the source stream.
      await parts.return(undefined);
    }
  }

  private partSizeFor(size: number | undefined): number {
    if (size === undefined || size <= this.partSize * MAX_PARTS) return this.partSize;
    const needed = Math.ceil(size / MAX_PARTS / MiB) * MiB;
    if (needed > MAX_PART_SIZE) throw new RangeError(`Object of ${size} bytes exceeds the S3 limit`);
    return needed;
  }

  private async putSingle(key: string, buf: Buffer, contentType: string): Promise<ObjectInfo> {
    const meta: ItemBucketMetadata = { 'Content-Type': contentType };
    const { etag } = await this.client.putObject(this.bucket, key, buf, buf.length, meta);
    return { key, size: buf.length, etag, contentType };
  }

  private async putMultipart(
    key: string,
    contentType: string,
    first: Buffer,
    second: Buffer,
    rest: AsyncIterator<Buffer>,
    partSize: number,
  ): Promise<ObjectInfo> {
    const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, {
      'Content-Type': contentType,
    });
    const etags: { part: number; etag: string }[] = [];
    let size = 0;
    let inFlight: Promise<void> | undefined;
    const upload = (part: number, data: Buffer): Promise<void> => {
      const promise = this.client
        .uploadPart(
          {
            bucketName: this.bucket,
            objectName: key,
            uploadID: encodeQueryValue(uploadId),
            partNumber: part,
            headers: { 'Content-MD5': createHash('md5').update(data).digest('base64') },
          },
          data,
        )
        .then(({ etag }) => {
          etags.push({ part, etag });
        });
      // Handled here so a failure while the next part is still being read is not an unhandled
      // rejection; it is rethrown when awaited below.
      promise.catch(() => {});
      return promise;
    };
    try {
      let partNumber = 0;
      let data: Buffer | undefined = first;
      let next: Buffer | undefined = second;
      while (data) {
        partNumber++;
        if (partNumber > MAX_PARTS) {
          throw new RangeError(
            `Object ${JSON.stringify(key)} needs more than ${MAX_PARTS} parts of ${partSize} bytes`,
          );
        }
        // One upload at a time; the next part is read from the source while this one is sent.
        if (inFlight) await inFlight;
        inFlight = upload(partNumber, data);
        size += data.length;
        data = next;
        next = undefined;
        if (!data) {
          const r = await rest.next();
          data = r.done ? undefined : r.value;
        }
      }
      await inFlight;
      etags.sort((a, b) => a.part - b.part);
      const { etag } = await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
      return { key, size, etag, contentType };
    } catch (err) {
      await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => {});
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range) assertValidRange(range);
    try {
      if (!range || (range.start === 0 && range.end === undefined)) {
        return await this.client.getObject(this.bucket, key);
      }
      const length = range.end === undefined ? undefined : range.end - range.start + 1;
      return await this.client.getPartialObject(this.bucket, key, range.start, length);
    } catch (err) {
      // 416: the range starts at or past the end (the object exists). Same answer as the fs driver.
      if (s3Code(err) === 'InvalidRange') return Readable.from([]);
      throw this.translate(key, err);
    }
  }

  async getBuffer(key: string): Promise<Buffer> {
    const stream = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async stat(key: string): Promise<ObjectInfo> {
    assertValidKey(key);
    try {
      const st = await this.client.statObject(this.bucket, key);
      const contentType = st.metaData['content-type'];
      return {
        key,
        size: st.size,
        etag: st.etag,
        contentType: typeof contentType === 'string' ? contentType : DEFAULT_CONTENT_TYPE,
        lastModified: st.lastModified,
      };
    } catch (err) {
      throw this.translate(key, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.stat(key);
      return true;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return false;
      throw err;
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const pageSize = normalizePageSize(opts.pageSize, MAX_LIST_PAGE_SIZE);
    const startAfter = opts.token ? decodeListToken(opts.token) : '';
    const res = await this.client.listObjectsV2Query(this.bucket, prefix, '', '', pageSize, startAfter);
    const items: ObjectInfo[] = [];
    for (const o of res.objects) {
      if (o.name === undefined) continue; // common prefixes; none without a delimiter
      items.push({ key: o.name, size: o.size, etag: o.etag || undefined, lastModified: o.lastModified });
    }
    const last = items[items.length - 1];
    return { items, nextToken: res.isTruncated && last ? encodeListToken(last.key) : null };
  }

  async *listAll(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | null = null;
    do {
      const page: ListPage = await this.list(prefix, { token });
      yield* page.items;
      token = page.nextToken;
    } while (token !== null);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.client.removeObject(this.bucket, key);
    } catch (err) {
      // S3 answers 204 for a missing key; some compatible servers answer 404.
      if (!NOT_FOUND_CODES.has(s3Code(err) ?? '')) throw err;
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | null = null;
    do {
      const page: ListPage = await this.list(prefix, { token });
      if (page.items.length > 0) {
        // One DeleteObjects request per page (S3 takes up to 1,000 keys per request).
        const errors = (await this.client.removeObjects(
          this.bucket,
          page.items.map((item) => item.key),
        )) as unknown[];
        const failed = errors.filter((e) => e != null);
        if (failed.length > 0) {
          throw new Error(
            `deletePrefix(${JSON.stringify(prefix)}): ${failed.length} deletes failed: ${JSON.stringify(failed.slice(0, 3))}`,
          );
        }
      }
      deleted += page.items.length;
      // Tokens are start-after keys, so they stay valid after the page's objects are gone.
      token = page.nextToken;
    } while (token !== null);
    return deleted;
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private translate(key: string, err: unknown): unknown {
    return NOT_FOUND_CODES.has(s3Code(err) ?? '') ? new ObjectNotFoundError(key, { cause: err }) : err;
  }
}
