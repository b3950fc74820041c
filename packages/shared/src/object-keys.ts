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
  modelWeights: (ws: string, modelId: string) => `ws/${ws}/models/${encodeURIComponent(modelId)}/weights.onnx`,
} as const;
