import type {
  BatchMetadata,
  FileMetadata,
  MultipartBatchPartMetadata,
  ShardDetails,
} from '@visionbatch/shared/wire/data-staging';
import { type ApiClient, seg } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { red, shortTime, table } from './format.ts';
import type { RecordSink } from './jsonl.ts';

type Print = (line: string) => void;
const stdoutPrint: Print = (line) => process.stdout.write(`${line}\n`);

/** Follows `nextPageToken` (non-null string = more) and yields every page. */
export async function* pages<T>(
  fetchPage: (token: string | undefined) => Promise<T & { nextPageToken?: string | null }>,
  maxPages = Infinity,
) {
  let token: string | undefined;
  for (let n = 0; n < maxPages; n++) {
    const page = await fetchPage(token);
    yield page;
    if (typeof page.nextPageToken !== 'string') return;
    token = page.nextPageToken;
  }
}

export async function getBatch(client: ApiClient, batchId: string): Promise<BatchMetadata> {
  const ds = await client.dataStagingPrefix();
  const res = await client.get<{ batch?: BatchMetadata }>(`${ds}/batches/${seg(batchId)}`);
  if (!res?.batch) throw new CliError('could not decode the API response: no "batch"');
  return res.batch;
}

export async function getParts(client: ApiClient, batchId: string): Promise<MultipartBatchPartMetadata[]> {
  const ds = await client.dataStagingPrefix();
  const res = await client.get<{ batchParts?: MultipartBatchPartMetadata[] }>(
    `${ds}/batches/${seg(batchId)}/parts`,
  );
  return res?.batchParts ?? [];
}

export async function getCount(client: ApiClient, batchId: string, partName?: string): Promise<number> {
  const ds = await client.dataStagingPrefix();
  const res = await client.get<{ count?: number }>(`${ds}/batches/${seg(batchId)}/count`, { partName });
  return res?.count ?? 0;
}

/** Every file of a batch (or one part), page by page. */
export async function* listFiles(
  client: ApiClient,
  batchId: string,
  partName?: string,
): AsyncGenerator<FileMetadata> {
  const ds = await client.dataStagingPrefix();
  for await (const page of pages((nextPageToken) =>
    client.get<{ filesMetadata: FileMetadata[]; nextPageToken?: string | null }>(
      `${ds}/batches/${seg(batchId)}/list`,
      {
        partName,
        nextPageToken,
      },
    ),
  )) {
    for (const f of page.filesMetadata ?? []) yield f;
  }
}

/** The parts to address: all of a multipart batch, or the requested ones (unknown ones refused). */
export function selectParts(
  parts: readonly MultipartBatchPartMetadata[],
  wanted: readonly string[] | undefined,
): MultipartBatchPartMetadata[] {
  if (!wanted?.length) return [...parts];
  const names = new Set(parts.map((p) => p.partName));
  const unknown = wanted.filter((w) => !names.has(w));
  if (unknown.length)
    throw new CliError(
      `unknown part(s) ${unknown.join(', ')}; the batch has: ${[...names].join(', ') || 'none'}`,
    );
  return parts.filter((p) => wanted.includes(p.partName));
}

const DAY_MS = 24 * 3600 * 1000;
const expiryCell = (iso: string, now: number) => {
  const s = shortTime(iso);
  return Date.parse(iso) - now <= 3 * DAY_MS ? red(s) : s;
};

/** `list-batches`: `--pages` pages of batches as a table. */
export async function listBatches(
  client: ApiClient,
  o: { pages?: number; pageSize?: number },
  print: Print = stdoutPrint,
): Promise<BatchMetadata[]> {
  const ds = await client.dataStagingPrefix();
  const all: BatchMetadata[] = [];
  for await (const page of pages(
    (nextPageToken) =>
      client.get<{ batches: BatchMetadata[]; nextPageToken?: string | null }>(`${ds}/batches`, {
        pageSize: o.pageSize,
        nextPageToken,
      }),
    o.pages ?? 1,
  )) {
    all.push(...(page.batches ?? []));
  }
  if (all.length === 0) {
    print('No batches.');
    return all;
  }
  const now = Date.now();
  print(
    table(
      ['BATCH ID', 'NAME', 'TYPE', 'CONTENT', 'CREATED', 'EXPIRES'],
      all.map((b) => [
        b.batchId,
        b.displayName,
        b.batchType,
        b.batchContentType,
        shortTime(b.createdDate),
        expiryCell(b.expiryDate, now),
      ]),
    ),
  );
  return all;
}

/** `show-batch-details`: metadata, then the count (simple/sharded) or every part with its count. */
export async function showBatchDetails(
  client: ApiClient,
  batchId: string,
  print: Print = stdoutPrint,
): Promise<void> {
  const b = await getBatch(client, batchId);
  const now = Date.now();
  print(`Batch ID:      ${b.batchId}`);
  print(`Name:          ${b.displayName}`);
  print(`Type:          ${b.batchType}`);
  print(`Content:       ${b.batchContentType}`);
  print(`Created:       ${shortTime(b.createdDate)}`);
  print(`Expires:       ${expiryCell(b.expiryDate, now)}`);
  if (b.batchType !== 'multipart-batch') {
    print(`Files:         ${await getCount(client, batchId)}`);
    return;
  }
  const parts = await getParts(client, batchId);
  const rows: string[][] = [];
  for (const p of parts) {
    const content = p.nestedContentType ? `${p.contentType} of ${p.nestedContentType}` : p.contentType;
    rows.push([
      p.partName,
      p.partType,
      content,
      String(await getCount(client, batchId, p.partName)),
      p.partDescription ?? 'Not Available',
    ]);
  }
  print('Parts:');
  print(table(['PART', 'TYPE', 'CONTENT', 'FILES', 'DESCRIPTION'], rows));
}

/** `list-batch-content`: every file (of the selected parts) as snake_case records, up to `limit`. */
export async function listBatchContent(
  client: ApiClient,
  o: { batchId: string; partNames?: string[]; limit?: number },
  sink: RecordSink,
): Promise<number> {
  const b = await getBatch(client, o.batchId);
  const partNames: (string | undefined)[] =
    b.batchType === 'multipart-batch'
      ? selectParts(await getParts(client, o.batchId), o.partNames).map((p) => p.partName)
      : [undefined];
  if (b.batchType !== 'multipart-batch' && o.partNames?.length)
    throw new CliError(
      `batch ${o.batchId} is a ${b.batchType}; --part-name applies to multipart batches only`,
    );
  const limit = o.limit ?? Infinity;
  let n = 0;
  for (const part of partNames) {
    for await (const f of listFiles(client, o.batchId, part)) {
      if (n >= limit) return n;
      await sink.write(f as unknown as Record<string, unknown>);
      n++;
    }
  }
  return n;
}

/**
 * `list-ingest-details`: every shard status of a batch as snake_case records; when there are none,
 * says so on stderr (stdout stays valid, empty JSONL).
 */
export async function listIngestDetails(
  client: ApiClient,
  o: { batchId: string; pageSize?: number },
  sink: RecordSink,
  note: Print = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  const ds = await client.dataStagingPrefix();
  let n = 0;
  for await (const page of pages((nextPageToken) =>
    client.get<{ shards: ShardDetails[]; nextPageToken?: string | null }>(
      `${ds}/batches/${seg(o.batchId)}/shards`,
      { pageSize: o.pageSize, nextPageToken },
      { retry: false },
    ),
  )) {
    for (const s of page.shards ?? []) {
      await sink.write(s as unknown as Record<string, unknown>);
      n++;
    }
  }
  if (n === 0)
    note(
      `No ingest details for batch ${o.batchId}: only tar-shard uploads (more than 32 images) and reference ingests have shards; see list-batch-content for its files`,
    );
  return n;
}
