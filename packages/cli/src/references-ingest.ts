import { readFile } from 'node:fs/promises';
import { type ApiClient, seg } from './api-client.ts';
import { CliError } from './cli-error.ts';

/** One `{"name", "url"}` line of a references file (spec §2.11). */
export interface Reference {
  name: string;
  url: string;
}

/** Categories a reference ingest may ask webhooks for (spec §4.2). */
export const NOTIFICATION_CATEGORIES = ['ingest-status', 'files-status'] as const;

/** Most references per image ingest request (Roboflow's `MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST`). */
export function maxReferencesPerRequest(env: Record<string, string | undefined> = process.env): number {
  const n = Number(env.MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST);
  return Number.isInteger(n) && n > 0 ? n : 20_000;
}

/** Parses a JSONL references file; names the line of the first bad entry. */
export function parseReferences(text: string, source: string): Reference[] {
  const out: Reference[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new CliError(`${source}:${i + 1}: not valid JSON`);
    }
    const r = v as Partial<Reference>;
    if (!r || typeof r.name !== 'string' || typeof r.url !== 'string' || !r.name || !r.url) {
      throw new CliError(`${source}:${i + 1}: expected {"name": string, "url": string}`);
    }
    out.push({ name: r.name, url: r.url });
  });
  return out;
}

/** Where reference ingests go and what they ask for (both references sources). */
export interface ReferencesTarget {
  kind: 'image' | 'video';
  batchId: string;
  displayName: string;
  ingestId?: string;
  notificationsUrl?: string;
  notificationCategories?: string[];
  log: (line: string) => void;
}

export interface ReferencesIngestOptions extends ReferencesTarget {
  /** Local JSONL path or an `https://` URL the server downloads. */
  references: string;
}

/** The options of `create-batch-of-images|videos` that a references-file source reads. */
export interface ReferencesSourceOptions {
  batchId: string;
  references?: string;
  ingestId?: string;
  notificationsUrl?: string;
  notificationCategories?: string[];
}

/** `--data-source references-file` of both create-batch commands: one reference ingest. */
export async function ingestReferencesFile(
  client: ApiClient,
  kind: 'image' | 'video',
  o: ReferencesSourceOptions,
  displayName: string,
  log: (line: string) => void,
): Promise<void> {
  if (!o.references) throw new CliError('--references is required with --data-source references-file');
  await ingestReferences(client, {
    kind,
    batchId: o.batchId,
    displayName,
    references: o.references,
    ingestId: o.ingestId,
    notificationsUrl: o.notificationsUrl,
    notificationCategories: o.notificationCategories,
    log,
  });
}

/** The answer to a reference ingest request. */
export interface IngestResponse {
  ingestId?: string;
  shardIds?: string[];
  duplicated?: boolean;
}

/** Sends one reference ingest request: a list (`imageReferences`) or a URL (`imageReferencesURL`). */
export type ReferencesSender = (
  refs: Reference[] | { url: string },
  ingestId: string | undefined,
) => Promise<IngestResponse>;

/**
 * The sender of reference ingests into one batch (spec §2.11/§2.12); checks the notification
 * categories once and logs each answer.
 */
export async function referencesSender(client: ApiClient, o: ReferencesTarget): Promise<ReferencesSender> {
  const categories = o.notificationCategories?.length ? [...new Set(o.notificationCategories)] : undefined;
  for (const c of categories ?? []) {
    if (!(NOTIFICATION_CATEGORIES as readonly string[]).includes(c)) {
      throw new CliError(
        `--notification-category must be one of ${NOTIFICATION_CATEGORIES.join(', ')}, got "${c}"`,
      );
    }
  }
  const ds = await client.dataStagingPrefix();
  const endpoint = `${ds}/batches/${seg(o.batchId)}/bulk-upload/${o.kind}-references`;
  const field = o.kind === 'image' ? 'imageReferences' : 'videoReferences';
  const common = {
    ...(o.notificationsUrl ? { notificationsURL: o.notificationsUrl } : {}),
    ...(categories ? { notificationCategories: categories } : {}),
  };
  return async (refs, ingestId) => {
    const refsField = Array.isArray(refs) ? { [field]: refs } : { [`${field}URL`]: refs.url };
    const body = { ...refsField, ...(ingestId ? { ingestId } : {}), ...common };
    const res = await client.post<IngestResponse>(endpoint, {
      query: { displayName: o.displayName },
      json: body,
      timeoutMs: client.timeoutMs * 2,
    });
    const r = res ?? {};
    o.log(
      `Ingest ${r.ingestId ?? '(no id)'} registered` +
        (r.shardIds?.length ? `, shards: ${r.shardIds.join(', ')}` : '') +
        (r.duplicated ? ' (request was deduplicated)' : ''),
    );
    return r;
  };
}

/**
 * Registers a references file (spec §2.11/§2.12). A URL is passed through as
 * `imageReferencesURL`/`videoReferencesURL`; a local file is sent inline — images in requests of at
 * most 20 000 references (ingest ids `X-0`, `X-1`, … when the user gave `X` and several requests are
 * needed), videos in one request, as Roboflow's client does.
 */
export async function ingestReferences(
  client: ApiClient,
  o: ReferencesIngestOptions,
): Promise<IngestResponse[]> {
  const send = await referencesSender(client, o);
  if (/^[a-z]+:\/\//i.test(o.references)) {
    if (!o.references.toLowerCase().startsWith('https://'))
      throw new CliError('--references URL must use https://');
    return [await send({ url: o.references }, o.ingestId)];
  }
  let text: string;
  try {
    text = await readFile(o.references, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read references file ${o.references}: ${(e as Error).message}`, { cause: e });
  }
  const refs = parseReferences(text, o.references);
  if (refs.length === 0) throw new CliError(`references file ${o.references} is empty`);
  if (o.kind === 'video') {
    if (refs.length > 1000) o.log(`Warning: ${refs.length} videos in one batch (more than 1000)`);
    return [await send(refs, o.ingestId)];
  }
  const size = maxReferencesPerRequest();
  const chunks: Reference[][] = [];
  for (let i = 0; i < refs.length; i += size) chunks.push(refs.slice(i, i + size));
  const out: IngestResponse[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const id = o.ingestId && chunks.length > 1 ? `${o.ingestId}-${i}` : o.ingestId;
    out.push(await send(chunk, id));
  }
  return out;
}
