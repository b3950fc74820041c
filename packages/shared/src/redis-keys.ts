/**
 * The whole Redis key layout. Every key starts with the `{vb}` hash tag so that all keys (and
 * BullMQ's, which use the same prefix) land in one Redis Cluster slot and multi-key scripts work.
 */
export const KEY_PREFIX = '{vb}';

const k = (...parts: string[]) => [KEY_PREFIX, ...parts].join(':');

export const keys = {
  /** hash: batch metadata */
  batch: (ws: string, batchId: string) => k('batch', ws, batchId),
  /** zset: batch ids of a workspace by creation time */
  batchIndex: (ws: string) => k('batches', ws),
  /** zset (all scores 0, lexicographic): file names of one part ('' for simple/sharded batches) */
  batchFiles: (ws: string, batchId: string, part: string) => k('batch', ws, batchId, 'files', part),
  /** hash: file name → JSON file record */
  batchFileMeta: (ws: string, batchId: string, part: string) => k('batch', ws, batchId, 'filemeta', part),
  /** hash: part name → JSON part metadata (multipart batches) */
  batchParts: (ws: string, batchId: string) => k('batch', ws, batchId, 'parts'),
  /** hash: shard id → JSON shard record (sharded batches) */
  batchShards: (ws: string, batchId: string) => k('batch', ws, batchId, 'shards'),
  /** zset: shard ids by registration time */
  batchShardOrder: (ws: string, batchId: string) => k('batch', ws, batchId, 'shard-order'),
  /** hash: reference-ingest digest → JSON {ingestId, shardIds} (dedup of repeated ingests, spec §2.11) */
  batchIngests: (ws: string, batchId: string) => k('batch', ws, batchId, 'ingests'),
  /** zset: `ws/batchId` by expiry time, for the garbage collector */
  batchExpiry: () => k('batch-expiry'),

  /** string: the workspace's webhook `Authorization` secret, created once (SET NX) */
  webhookSecret: (ws: string) => k('webhook-secret', ws),

  /** string: JSON workflow definition */
  workflow: (ws: string, id: string) => k('workflow', ws, id),
  workflowIndex: (ws: string) => k('workflows', ws),
  /** string: JSON model record */
  model: (ws: string, modelId: string) => k('model', ws, modelId),
  modelIndex: (ws: string) => k('models', ws),

  /** hash: job record (state, epoch, definition, …; see jobs-repo.ts) */
  job: (ws: string, jobId: string) => k('job', ws, jobId),
  /** string: JSON of the workflow definition and model records the job was created with */
  jobSnapshot: (ws: string, jobId: string) => k('job', ws, jobId, 'snapshot'),
  /** stream: the job's events (state, stage, task, log), capped; read by the event stream route */
  jobEvents: (ws: string, jobId: string) => k('job', ws, jobId, 'events'),
  /** zset: job ids of a workspace by creation time */
  jobIndex: (ws: string) => k('jobs', ws),
  /** hash: stage id → JSON stage record */
  jobStages: (ws: string, jobId: string) => k('job', ws, jobId, 'stages'),
  /** hash: task id → JSON task status */
  stageTasks: (ws: string, jobId: string, stage: string) => k('job', ws, jobId, 'stage', stage, 'tasks'),
  /** zset (scores 0, lexicographic): ids of the tasks that have a status, for paging */
  stageTaskIndex: (ws: string, jobId: string, stage: string) =>
    k('job', ws, jobId, 'stage', stage, 'task-index'),
  /** set: ids of the tasks with an attempt running now */
  stageRunning: (ws: string, jobId: string, stage: string) => k('job', ws, jobId, 'stage', stage, 'running'),
  /** set: task ids finished successfully / failed for good */
  stageDone: (ws: string, jobId: string, stage: string) => k('job', ws, jobId, 'stage', stage, 'done'),
  stageFailed: (ws: string, jobId: string, stage: string) => k('job', ws, jobId, 'stage', stage, 'failed'),
  /** hash: task id → `filesOk,filesFailed` of its last attempt */
  stageCounters: (ws: string, jobId: string, stage: string) =>
    k('job', ws, jobId, 'stage', stage, 'counters'),
  /** list: JSON log entries, oldest first */
  jobLogs: (ws: string, jobId: string) => k('job', ws, jobId, 'logs'),
  /** hash: metered machine milliseconds by pool (cpu, gpu) */
  jobMeter: (ws: string, jobId: string) => k('job', ws, jobId, 'meter'),
  /** set: `ws/jobId` of every job that is not terminal */
  activeJobs: () => k('jobs-active'),
  /** zset: `ws/jobId` of every terminal job by the time it ended (retention) */
  endedJobs: () => k('jobs-ended'),
  /** hash: outbox entry id → JSON side effects of a move (webhook, queue cleanup), until carried out */
  outbox: () => k('outbox'),
  /** zset: outbox entry ids by the time they are due (again) */
  outboxDue: () => k('outbox-due'),
  /** string: token of the scheduler replica that leads (renewable lease with a TTL) */
  schedulerLeader: () => k('scheduler', 'leader'),
  /** counter: fencing number of leader tokens */
  schedulerLeaderSeq: () => k('scheduler', 'leader-seq'),

  /** hash: machine record (pool, lease, lastHeartbeat) */
  machine: (machineId: string) => k('machine', machineId),
  /** zset: machine ids of a pool by last heartbeat */
  poolMachines: (pool: string) => k('pool', pool, 'machines'),
  /** hash: the autoscaler's last round for a pool (desired, target, throughput; expires with the leader) */
  poolStatus: (pool: string) => k('pool', pool, 'status'),
  /** hash: lease record (machine, job, epoch, startedAt, lastHeartbeat) */
  lease: (leaseId: string) => k('lease', leaseId),
  /** set: lease ids currently open on a job */
  jobLeases: (ws: string, jobId: string) => k('job', ws, jobId, 'leases'),
  /** zset: every open lease id by last heartbeat (for expiry) */
  leases: () => k('leases'),
} as const;
