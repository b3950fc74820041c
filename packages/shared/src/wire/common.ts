import { z } from 'zod';

/**
 * Wire shapes every API family shares: the error body, page tokens and timestamps. Response
 * schemas are read in zod's `output` mode when the OpenAPI document is generated, which makes
 * every object closed (`additionalProperties: false`): a field the document does not name is a
 * contract failure (test/contract).
 */

/** An ISO-8601 instant as the api writes it (`Date#toISOString`). */
export const IsoTimestamp = z.string().meta({ format: 'date-time', example: '2025-01-01T00:00:00.000Z' });

/** The token of the next page, or null on the last page. */
export const NextPageToken = z.string().nullable();

/**
 * Every refusal (packages/shared/src/errors.ts): `error` is the human-readable message, `code`
 * the stable `VB_ERR_*` code; the other fields are the details some errors add.
 */
export const ErrorBody = z
  .object({
    error: z.string(),
    code: z.string().regex(/^VB_ERR_[A-Z_]+$/),
    field: z.string().optional(),
    workspace: z.string().optional(),
    limitBytes: z.number().optional(),
    limitMs: z.number().optional(),
    state: z.string().optional(),
    jobId: z.string().optional(),
    job: z.string().optional(),
    batch: z.string().optional(),
    stage: z.string().optional(),
    part: z.string().optional(),
    file: z.string().optional(),
    shard: z.string().optional(),
    workflow: z.string().optional(),
    model: z.string().optional(),
    estimate: z.string().optional(),
    estimateJobId: z.string().optional(),
    maxStreams: z.number().optional(),
  })
  .meta({ id: 'Error', description: 'The body of every error answer.' });

/** `{"status": "ok"}` and similar acknowledgements. */
export const StatusOk = z.object({ status: z.literal('ok') });
