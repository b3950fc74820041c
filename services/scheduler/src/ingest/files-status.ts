import type { FailedFile } from './tar-indexer.ts';

/** Lists in a files-status webhook are cut to this many entries (`content_truncated`). */
export const MAX_LISTED_FILES = 1000;

/**
 * The `ingest-files-status-notification-v1` of a shard (spec §4.2). `success` says whether the
 * shard was processed, not whether every file made it: a processed shard is a success and lists
 * the files it could not ingest in `failed_files` (as the spec's example: `success: true` next to
 * a `file-size-limit-exceeded` entry). Only a shard that could not be processed at all (an
 * unreadable archive, past its deadline) is `success: false`, with `error_details`.
 */
export function filesStatusNotification(
  shard:
    | { processed: true; ingested: string[]; failed: FailedFile[] }
    | { processed: false; error: { type: string; reason: string } },
): Record<string, unknown> {
  if (!shard.processed) {
    return {
      type: 'ingest-files-status-notification-v1',
      success: false,
      ingested_files: [],
      failed_files: [],
      content_truncated: false,
      error_details: shard.error,
    };
  }
  return {
    type: 'ingest-files-status-notification-v1',
    success: true,
    ingested_files: shard.ingested.slice(0, MAX_LISTED_FILES),
    failed_files: shard.failed.slice(0, MAX_LISTED_FILES),
    content_truncated: shard.ingested.length > MAX_LISTED_FILES || shard.failed.length > MAX_LISTED_FILES,
  };
}
