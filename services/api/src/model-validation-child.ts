// The model inspection child of the api (model-validation.ts): reads an InspectRequest (one JSON
// line) and the weights from stdin, resolves the model's config from the request and the file
// (metadata, graph shapes), loads and runs the model once, and prints an InspectReply.
import { writeFileSync } from 'node:fs';
import { VbError } from '@visionbatch/shared/errors';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { modelFactsOfWeights, resolveModelConfig } from './model-config.ts';
import { type InspectReply, type InspectRequest, modelProblem } from './model-validation.ts';

// First in line for the OOM killer: a model too large for the pod must cost this child, not the api.
try {
  writeFileSync('/proc/self/oom_score_adj', '1000');
} catch {}

let req: InspectRequest | null = null;
let weights = Buffer.alloc(0);
let filled = 0;
let head = Buffer.alloc(0);
for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
  let data = chunk;
  if (!req) {
    head = Buffer.concat([head, data]);
    const nl = head.indexOf(10);
    if (nl < 0) continue;
    req = JSON.parse(head.subarray(0, nl).toString('utf8')) as InspectRequest;
    // One buffer of the declared size: no second copy of a large model.
    weights = Buffer.alloc(req.weightsBytes);
    data = head.subarray(nl + 1);
  }
  filled += data.copy(weights, filled);
}

let reply: InspectReply;
try {
  if (!req || filled !== weights.length) throw new Error(`short input: ${filled} of ${weights.length} bytes`);
  const resolved = resolveModelConfig(req.config, modelFactsOfWeights(weights));
  const record = { modelId: req.modelId, ...resolved.config, weightsBytes: req.weightsBytes } as ModelRecord;
  const problem = await modelProblem(record, weights);
  reply = problem === null ? { ok: true, ...resolved } : { ok: false, field: 'weights', problem };
} catch (err) {
  // a config that does not fit the file is the user's problem (a 400 naming the field)
  if (err instanceof VbError && err.code === 'VB_ERR_VALIDATION') {
    const field = String(err.details.field);
    reply = { ok: false, field, problem: err.message.slice(field.length + 2) };
  } else reply = { ok: false, error: (err as Error).message };
}
process.stdout.write(JSON.stringify(reply));
process.exit(0);
