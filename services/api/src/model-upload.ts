import { Errors } from '@visionbatch/shared/errors';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import type { FastifyRequest } from 'fastify';
import { assertJsonDepth } from './body-parsers.ts';
import { multipartParts, readSmallFilePart, storeFilePart } from './multipart.ts';

/** Largest `config` accepted, as a field or as a file part. */
export const MAX_MODEL_CONFIG_BYTES = 1024 * 1024;

/** What a model PUT's form carried. */
export interface ModelForm {
  /** the `config` JSON, parsed (from a field or a small file part); undefined when absent */
  config: unknown;
  /** the `weights` file as stored under the upload's key; null when absent */
  weights: { bytes: number; sha256: string } | null;
}

function parseConfig(value: unknown): unknown {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw Errors.validation('config', 'is not valid JSON');
    }
  }
  assertJsonDepth(parsed, 'config');
  return parsed;
}

/**
 * Reads a model PUT's multipart form: `config` (JSON, as a field or as a file part of at most
 * {@link MAX_MODEL_CONFIG_BYTES}) and `weights` (a file part streamed into the store under
 * `weightsKey`, never held whole in memory). Other file parts are skipped. On any error (malformed
 * or truncated multipart → 400, a limit → 413, the client gone) nothing is left under `weightsKey`.
 */
export async function readModelForm(
  req: FastifyRequest,
  store: ObjectStore,
  weightsKey: string,
  maxWeightsBytes: number,
): Promise<ModelForm> {
  const form: ModelForm = { config: undefined, weights: null };
  try {
    for await (const part of multipartParts(req, {
      files: 3,
      fields: 8,
      parts: 16,
      fieldSize: MAX_MODEL_CONFIG_BYTES,
      fileSize: maxWeightsBytes,
    })) {
      if (part.fieldname === 'config') {
        if (form.config !== undefined) throw Errors.validation('config', 'sent more than once');
        if (part.type === 'field') {
          if (part.valueTruncated) throw Errors.payloadTooLarge('config', MAX_MODEL_CONFIG_BYTES);
          form.config = parseConfig(part.value);
        } else {
          const raw = await readSmallFilePart(part, 'config', MAX_MODEL_CONFIG_BYTES);
          form.config = parseConfig(raw.toString('utf8'));
        }
      } else if (part.type === 'file' && part.fieldname === 'weights') {
        if (form.weights) throw Errors.validation('weights', 'sent more than once');
        form.weights = await storeFilePart(store, weightsKey, part, {
          what: 'model weights',
          limit: maxWeightsBytes,
          contentType: 'application/octet-stream',
        });
      } else if (part.type === 'file') {
        part.file.resume();
      }
    }
  } catch (err) {
    await store.delete(weightsKey).catch(() => {});
    throw err;
  }
  return form;
}
