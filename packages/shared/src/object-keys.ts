/**
 * Object-store key layout. Every object of a workspace lives under `ws/<workspace>/`, so a
 * workspace's data can never be reached through another's keys. File names are validated
 * (`isSafeFileName`) before they get here.
 */
export const objectKeys = {
  /** A staged file. `part` is '' for simple and sharded batches. */
  batchFile: (ws: string, batchId: string, part: string, fileName: string) =>
    `ws/${ws}/batches/${batchId}/${part || '_'}/${fileName}`,
  batchPrefix: (ws: string, batchId: string) => `ws/${ws}/batches/${batchId}/`,
  /** An uploaded tar shard before indexing. */
  shardTar: (ws: string, batchId: string, shardId: string) => `ws/${ws}/shards/${batchId}/${shardId}.tar`,
  /** ONNX weights of one upload of a model; each upload has its own key so a bad re-upload never clobbers the good one. */
  modelWeights: (ws: string, modelId: string, uploadId = 'weights') =>
    `ws/${ws}/models/${encodeURIComponent(modelId)}/${uploadId}.onnx`,
} as const;
