import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

/** `downloadURL` → `download_url`, `shardObjectsCount` → `shard_objects_count`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * The record as the Roboflow CLI dumps it to JSONL (spec §6.2): top-level keys in snake_case,
 * nested values (`status_metadata`, `payload`) untouched.
 */
export function toSnakeCaseRecord(item: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) out[snakeCase(k)] = v;
  return out;
}

/** A JSONL sink: one snake_case record per line to a file, or to stdout when no file is given. */
export interface RecordSink {
  write(item: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export function recordSink(outputFile?: string): RecordSink {
  if (!outputFile) {
    return {
      async write(item) {
        process.stdout.write(`${JSON.stringify(toSnakeCaseRecord(item))}\n`);
      },
      async close() {},
    };
  }
  const stream = createWriteStream(outputFile);
  return {
    async write(item) {
      if (!stream.write(`${JSON.stringify(toSnakeCaseRecord(item))}\n`)) await once(stream, 'drain');
    },
    async close() {
      await new Promise<void>((resolve, reject) =>
        stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
    },
  };
}
