import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordSink, snakeCase, toSnakeCaseRecord } from './jsonl.ts';

describe('snake_case JSONL', () => {
  it('converts the Roboflow field names as its CLI dumps them', () => {
    const cases: Record<string, string> = {
      downloadURL: 'download_url',
      fileName: 'file_name',
      partName: 'part_name',
      shardId: 'shard_id',
      contentType: 'content_type',
      nestedContentType: 'nested_content_type',
      statusName: 'status_name',
      statusType: 'status_type',
      eventTimestamp: 'event_timestamp',
      shardObjectsCount: 'shard_objects_count',
      statusMetadata: 'status_metadata',
      createdAt: 'created_at',
      processingStageId: 'processing_stage_id',
      taskId: 'task_id',
      severity: 'severity',
      reportingModule: 'reporting_module',
      logType: 'log_type',
      payload: 'payload',
    };
    for (const [camel, snake] of Object.entries(cases)) expect(snakeCase(camel)).toBe(snake);
  });

  it('converts only top-level keys', () => {
    expect(toSnakeCaseRecord({ statusMetadata: { failedFiles: 1 }, shardId: 's' })).toEqual({
      status_metadata: { failedFiles: 1 },
      shard_id: 's',
    });
  });

  it('writes one record per line to a file', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'vb-jsonl-')), 'out.jsonl');
    const sink = recordSink(file);
    await sink.write({ fileName: 'a.jpg', downloadURL: 'http://x/a' });
    await sink.write({ fileName: 'b.jpg', downloadURL: 'http://x/b', partName: 'p' });
    await sink.close();
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { file_name: 'a.jpg', download_url: 'http://x/a' },
      { file_name: 'b.jpg', download_url: 'http://x/b', part_name: 'p' },
    ]);
  });
});
