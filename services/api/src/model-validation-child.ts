// The model validation child of the api (model-validation.ts): reads a model record (one JSON line)
// and the weights from stdin, loads and runs the model once, and prints a ValidationReply.
import { writeFileSync } from 'node:fs';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { modelProblem, type ValidationReply } from './model-validation.ts';

// First in line for the OOM killer: a model too large for the pod must cost this child, not the api.
try {
  writeFileSync('/proc/self/oom_score_adj', '1000');
} catch {}

let record: ModelRecord | null = null;
let weights = Buffer.alloc(0);
let filled = 0;
let head = Buffer.alloc(0);
for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
  let data = chunk;
  if (!record) {
    head = Buffer.concat([head, data]);
    const nl = head.indexOf(10);
    if (nl < 0) continue;
    record = JSON.parse(head.subarray(0, nl).toString('utf8')) as ModelRecord;
    // One buffer of the declared size: no second copy of a large model.
    weights = Buffer.alloc(record.weightsBytes);
    data = head.subarray(nl + 1);
  }
  filled += data.copy(weights, filled);
}

let reply: ValidationReply;
try {
  if (!record || filled !== weights.length)
    throw new Error(`short input: ${filled} of ${weights.length} bytes`);
  const problem = await modelProblem(record, weights);
  reply = problem === null ? { ok: true } : { ok: false, problem };
} catch (err) {
  reply = { ok: false, error: (err as Error).message };
}
process.stdout.write(JSON.stringify(reply));
process.exit(0);
