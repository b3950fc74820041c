import os from 'node:os';
import path from 'node:path';

/**
 * Every setting of every visionbatch process, read from the environment in one place.
 *
 * Each entry names the variable, its default and what it means; `loadConfig` parses, applies
 * defaults, compiles units (ms, bytes, URLs) and returns a frozen object. A bad value fails at
 * start-up with a message naming the variable. The README's configuration table is generated
 * from `CONFIG_SPEC` (`npm run docs:env`).
 */
export interface ConfigEntry {
  name: string;
  default: string;
  doc: string;
  /** Which processes read it. */
  usedBy: string;
}

const DEV_KEY = 'vb_dev_key:demo';

export const CONFIG_SPEC: readonly ConfigEntry[] = [
  {
    name: 'VB_DATA_DIR',
    default: './.data',
    usedBy: 'all',
    doc: 'Local state: Redis data (local stack), the `fs` object store, logs, pid files.',
  },
  {
    name: 'VB_LOG_LEVEL',
    default: 'info',
    usedBy: 'all',
    doc: 'pino log level (`fatal` … `trace`, `silent`).',
  },
  {
    name: 'VB_REDIS_URL',
    default: 'redis://127.0.0.1:6380',
    usedBy: 'all',
    doc: 'Redis for state and queues: `redis://[[user]:password@]host:port[/db]`, or `rediss://` for TLS. `visionbatch up` starts its own Redis (with a password kept in VB_DATA_DIR/redis/auth.conf) on VB_REDIS_PORT when this is unset.',
  },
  {
    name: 'VB_REDIS_PASSWORD',
    default: '',
    usedBy: 'all',
    doc: 'Redis password; replaces the one in VB_REDIS_URL, so the URL can live in a ConfigMap and the password in a Secret. Set but empty, or a placeholder (`CHANGE-ME`...), stops the process.',
  },
  {
    name: 'VB_REDIS_TLS_CA',
    default: '',
    usedBy: 'all',
    doc: "PEM file of the CA that signed the Redis server's certificate, for `rediss://` with a private CA (default: the system's CAs).",
  },
  {
    name: 'VB_REDIS_SENTINELS',
    default: '',
    usedBy: 'all',
    doc: 'Comma-separated `host:port` of Redis Sentinels. When set, the master named VB_REDIS_SENTINEL_MASTER is asked of them and the host of VB_REDIS_URL is ignored (its password, database and `rediss://` still apply).',
  },
  {
    name: 'VB_REDIS_SENTINEL_MASTER',
    default: 'mymaster',
    usedBy: 'all',
    doc: 'Name of the master the Sentinels monitor.',
  },
  {
    name: 'VB_REDIS_SENTINEL_PASSWORD',
    default: '',
    usedBy: 'all',
    doc: 'Password of the Sentinels themselves (`requirepass` of sentinel.conf), when they have one.',
  },
  {
    name: 'VB_REDIS_PORT',
    default: '6380',
    usedBy: 'visionbatch up',
    doc: 'Port of the Redis that `visionbatch up` starts (ignored when VB_REDIS_URL is set).',
  },
  {
    name: 'VB_API_HOST',
    default: '127.0.0.1',
    usedBy: 'api',
    doc: 'Interface the api binds (`0.0.0.0` in containers).',
  },
  {
    name: 'VB_API_PORT',
    default: '8080',
    usedBy: 'api, up',
    doc: 'HTTP port of the api (Roboflow-compatible REST, signed URLs, /healthz, /readyz).',
  },
  {
    name: 'VB_API_OPS_PORT',
    default: '8083',
    usedBy: 'api',
    doc: 'Ops port of the api: `/metrics` (and `/healthz`, `/readyz`), on VB_API_HOST, kept off the public port so an Ingress never exposes it (0 = any free port).',
  },
  {
    name: 'VB_PUBLIC_URL',
    default: 'http://127.0.0.1:${VB_API_PORT}',
    usedBy: 'api',
    doc: 'Absolute base URL clients reach the api at; signed upload/download URLs are minted under it.',
  },
  {
    name: 'VB_MOUNT_PREFIX',
    default: '',
    usedBy: 'api',
    doc: 'Path prefix the API is mounted under (e.g. `/rf`), for base URLs with a path.',
  },
  {
    name: 'VB_API_KEYS',
    default: DEV_KEY,
    usedBy: 'api',
    doc: 'Comma-separated `key:workspace` pairs. The default development key is `vb_dev_key` for workspace `demo`; set your own in production (set but empty, or a placeholder such as `CHANGE-ME`, stops the api).',
  },
  {
    name: 'VB_PUBLISHABLE_KEYS',
    default: '',
    usedBy: 'api, scheduler',
    doc: 'Comma-separated `workspace:publishableKey` pairs sent as `Authorization` on webhooks, overriding the default: a random secret per workspace, created once and kept in Redis (see Webhooks).',
  },
  {
    name: 'VB_URL_SIGNING_SECRET',
    default: '(random per data dir)',
    usedBy: 'api',
    doc: 'HMAC secret for signed upload/download URLs; every api replica must share it. Defaults to a random secret stored in VB_DATA_DIR/url-signing.secret. Set but empty, or a placeholder, stops the api.',
  },
  {
    name: 'VB_UPLOAD_URL_TTL_S',
    default: '3600',
    usedBy: 'api',
    doc: 'Validity of signed upload URLs, seconds.',
  },
  {
    name: 'VB_DOWNLOAD_URL_TTL_S',
    default: '3600',
    usedBy: 'api',
    doc: 'Validity of signed download URLs, seconds (the spec asks for at least one hour).',
  },
  {
    name: 'VB_MAX_IMAGE_BYTES',
    default: '20971520',
    usedBy: 'api, scheduler',
    doc: 'Largest single image accepted (20 MiB, as Roboflow).',
  },
  {
    name: 'VB_MAX_UPLOAD_BYTES',
    default: '2147483648',
    usedBy: 'api, scheduler',
    doc: 'Largest body accepted on a signed upload URL (videos, tar shards), and largest video a video-reference ingest downloads.',
  },
  {
    name: 'VB_API_REQUEST_TIMEOUT_S',
    default: '3600',
    usedBy: 'api',
    doc: 'Longest time a client may take to send one whole request, headers and body (408 after it, nothing stored); sized for VB_MAX_UPLOAD_BYTES uploads on slow links.',
  },
  {
    name: 'VB_API_IDLE_TIMEOUT_S',
    default: '120',
    usedBy: 'api',
    doc: 'A connection on which nothing is sent or received for this long is closed (a stalled body, an idle socket).',
  },
  {
    name: 'VB_MODEL_VALIDATION_TIMEOUT_S',
    default: '60',
    usedBy: 'api',
    doc: 'Longest load-and-run check of an uploaded model (in a child process); a model that takes longer is refused with 400.',
  },
  {
    name: 'VB_MODEL_VALIDATION_MAX_MEMORY_MB',
    default: '2048',
    usedBy: 'api',
    doc: 'Resident memory the model check child process may use; past it the child is killed and the model refused with 400.',
  },
  {
    name: 'VB_BATCH_TTL_S',
    default: '604800',
    usedBy: 'api, scheduler',
    doc: 'Lifetime of staged batches (7 days).',
  },
  {
    name: 'VB_URL_ALLOWLIST',
    default: '',
    usedBy: 'scheduler',
    doc: 'Comma-separated CIDRs, IPs, host names or `*.suffix`es that reference-ingest downloads and webhook deliveries may reach even though they are private/loopback (the SSRF guard refuses those otherwise).',
  },
  {
    name: 'VB_REFERENCE_CONCURRENCY',
    default: '8',
    usedBy: 'scheduler',
    doc: 'Parallel downloads per reference ingest.',
  },
  {
    name: 'VB_DOWNLOAD_DEADLINE_S',
    default: '600',
    usedBy: 'scheduler',
    doc: 'Total time a reference download may take (references file, image or video, redirects included; a server trickling bytes is cut off here). Videos stream to a temp file and the store, never whole in memory.',
  },
  {
    name: 'VB_DNS_TIMEOUT_MS',
    default: '5000',
    usedBy: 'scheduler',
    doc: 'Total time a DNS lookup of a reference-download or webhook host may take.',
  },
  {
    name: 'VB_WEBHOOK_DEADLINE_S',
    default: '10',
    usedBy: 'scheduler',
    doc: 'Total time of one webhook delivery attempt (DNS, connect, request, response); past it the attempt counts as an error and is retried.',
  },
  {
    name: 'VB_STORE_DEADLINE_S',
    default: '120',
    usedBy: 'scheduler',
    doc: 'Total time of each object-store call made by the ingest (store one file, open or delete a shard), a staged video streamed to the store excepted (VB_DOWNLOAD_DEADLINE_S covers it).',
  },
  {
    name: 'VB_SHARD_INDEX_DEADLINE_S',
    default: '900',
    usedBy: 'scheduler',
    doc: 'Total time to index one uploaded tar shard (reading it from the store and storing its files); past it the shard fails with `ingest-timeout`.',
  },
  {
    name: 'VB_BATCH_GC_INTERVAL_S',
    default: '60',
    usedBy: 'scheduler',
    doc: 'How often the scheduler removes expired batches (objects and Redis keys).',
  },
  {
    name: 'VB_STORE_DRIVER',
    default: 'fs',
    usedBy: 'all',
    doc: 'Object store driver: `fs` (a local directory) or `s3` (MinIO, S3, R2 through the minio client).',
  },
  {
    name: 'VB_STORE_FS_DIR',
    default: '${VB_DATA_DIR}/objects',
    usedBy: 'all',
    doc: 'Root of the `fs` store.',
  },
  {
    name: 'VB_S3_ENDPOINT',
    default: '',
    usedBy: 'all',
    doc: 'S3 endpoint URL for the `s3` driver, e.g. `http://minio:9000`.',
  },
  { name: 'VB_S3_ACCESS_KEY', default: '', usedBy: 'all', doc: 'S3 access key.' },
  { name: 'VB_S3_SECRET_KEY', default: '', usedBy: 'all', doc: 'S3 secret key.' },
  {
    name: 'VB_S3_BUCKET',
    default: 'visionbatch',
    usedBy: 'all',
    doc: 'Bucket holding every object (created when missing).',
  },
  { name: 'VB_S3_REGION', default: 'us-east-1', usedBy: 'all', doc: 'S3 region.' },
  {
    name: 'VB_SCHEDULER_GRPC_HOST',
    default: '127.0.0.1',
    usedBy: 'scheduler',
    doc: 'Interface the scheduler gRPC server binds.',
  },
  {
    name: 'VB_SCHEDULER_GRPC_PORT',
    default: '50051',
    usedBy: 'scheduler',
    doc: 'gRPC port of the scheduler (job nudges, machine leases and heartbeats).',
  },
  {
    name: 'VB_SCHEDULER_URL',
    default: '127.0.0.1:${VB_SCHEDULER_GRPC_PORT}',
    usedBy: 'api, worker',
    doc: 'host:port where api and workers reach the scheduler over gRPC (a Service in a cluster); several replicas without one: `ipv4:host1:port,host2:port` (the client moves to the next when one dies).',
  },
  {
    name: 'VB_SCHEDULER_HTTP_PORT',
    default: '8081',
    usedBy: 'scheduler',
    doc: 'HTTP port of the scheduler for /healthz, /readyz and /metrics.',
  },
  {
    name: 'VB_SCHEDULER_TICK_MS',
    default: '250',
    usedBy: 'scheduler',
    doc: 'How often the scheduler reconciles running jobs.',
  },
  {
    name: 'VB_WORKER_HTTP_PORT',
    default: '8082',
    usedBy: 'worker',
    doc: 'HTTP port of a worker for /healthz, /readyz and /metrics (0 = any free port).',
  },
  {
    name: 'VB_WORKER_POOL',
    default: 'cpu',
    usedBy: 'worker',
    doc: 'Pool (machine type) of this worker machine: `cpu` or `gpu`.',
  },
  { name: 'VB_WORKER_ID', default: '(hostname-pid)', usedBy: 'worker', doc: 'Machine id of this worker.' },
  {
    name: 'VB_WORKER_SLOTS',
    default: '',
    usedBy: 'worker',
    doc: "Override of the job's `workersPerMachine` (task slots) on this machine.",
  },
  {
    name: 'VB_WORKER_CPU_REQUEST',
    default: "(the machine's cores)",
    usedBy: 'worker',
    doc: "CPUs this worker may use, as a Kubernetes quantity (`2`, `1.5`, `1500m`; the manifests pass the container's CPU request through the downward API). Slots and onnxruntime threads are sized from it instead of all of the node's cores.",
  },
  {
    name: 'VB_WORKER_CACHE_DIR',
    default: '${VB_DATA_DIR}/worker-cache',
    usedBy: 'worker',
    doc: 'Local cache of model weights.',
  },
  {
    name: 'VB_LEASE_TTL_MS',
    default: '15000',
    usedBy: 'scheduler, worker',
    doc: 'A machine lease expires when no heartbeat arrives for this long.',
  },
  {
    name: 'VB_TASK_LOCK_MS',
    default: '30000',
    usedBy: 'worker',
    doc: "BullMQ lock duration of a running task; a crashed worker's task runs again after about this long.",
  },
  {
    name: 'VB_TASK_TIMEOUT_S',
    default: '540',
    usedBy: 'worker',
    doc: "Longest a task attempt may run (images, video segments and whole videos, export archives alike); past it the attempt fails (retried as any failed attempt) and its slot is replaced. Keep it below the worker pods' termination grace (600 s in deploy/k8s) so a draining machine's tasks end in time.",
  },
  {
    name: 'VB_TASK_ATTEMPTS',
    default: '3',
    usedBy: 'scheduler',
    doc: 'Attempts per task before it counts as failed.',
  },
  {
    name: 'VB_CPU_CREDITS_PER_HOUR',
    default: '1',
    usedBy: 'scheduler',
    doc: 'Credits billed per CPU machine-hour.',
  },
  {
    name: 'VB_GPU_CREDITS_PER_HOUR',
    default: '4',
    usedBy: 'scheduler',
    doc: 'Credits billed per GPU machine-hour.',
  },
  {
    name: 'VB_IMAGES_PER_TASK',
    default: '256',
    usedBy: 'scheduler',
    doc: 'Images per processing task (shard size).',
  },
  {
    name: 'VB_AUTOSCALER',
    default: 'static',
    usedBy: 'scheduler, up',
    doc: "Actuator of the autoscaler: `static` (sizes are only computed and exported as `vb_pool_desired_machines`, e.g. for KEDA), `local` (the scheduler runs worker machines as child processes) or `kubernetes` (the scale subresource of each pool's Deployment).",
  },
  {
    name: 'VB_AUTOSCALER_INTERVAL_MS',
    default: '2000',
    usedBy: 'scheduler',
    doc: 'How often the autoscaler sizes the pools.',
  },
  {
    name: 'VB_POOL_CPU_MIN',
    default: '0',
    usedBy: 'scheduler',
    doc: 'Fewest machines of the cpu pool (0 = scale to zero when idle).',
  },
  { name: 'VB_POOL_CPU_MAX', default: '4', usedBy: 'scheduler', doc: 'Most machines of the cpu pool.' },
  { name: 'VB_POOL_GPU_MIN', default: '0', usedBy: 'scheduler', doc: 'Fewest machines of the gpu pool.' },
  { name: 'VB_POOL_GPU_MAX', default: '2', usedBy: 'scheduler', doc: 'Most machines of the gpu pool.' },
  {
    name: 'VB_AUTOSCALER_TARGET_DRAIN_S',
    default: '300',
    usedBy: 'scheduler',
    doc: "Time in which the autoscaler aims to finish each running job's remaining files (more machines for a shorter time).",
  },
  {
    name: 'VB_AUTOSCALER_COOLDOWN_S',
    default: '60',
    usedBy: 'scheduler',
    doc: 'Seconds after the last size change before a pool may shrink (so gaps between stages do not flap it).',
  },
  {
    name: 'VB_AUTOSCALER_FILES_PER_MACHINE_S',
    default: '4',
    usedBy: 'scheduler',
    doc: 'Assumed files (images, video frames) per machine-second until the throughput of the pool has been measured.',
  },
  {
    name: 'VB_K8S_NAMESPACE',
    default: "(the pod's namespace)",
    usedBy: 'scheduler',
    doc: "Namespace of the worker Deployments for `VB_AUTOSCALER=kubernetes`; defaults to the service account's namespace, else `default`.",
  },
  {
    name: 'VB_K8S_DEPLOYMENTS',
    default: 'cpu:worker-cpu,gpu:worker-gpu',
    usedBy: 'scheduler',
    doc: 'Comma-separated `pool:deployment` pairs: the Deployment each pool scales (a pool without a Deployment is only sized, not actuated).',
  },
  {
    name: 'VB_VIDEO_SEGMENT_SECONDS',
    default: '60',
    usedBy: 'scheduler',
    doc: 'Videos longer than this are split into segments of this length, processed in parallel, when the workflow has no stateful block (trackers); 0 = never split.',
  },
  {
    name: 'VB_CONTROL_PLANE_SECRET',
    default: '(random per data dir)',
    usedBy: 'api, scheduler, worker',
    doc: 'Shared secret every gRPC call to the scheduler must carry (`authorization: Bearer …`), else UNAUTHENTICATED. Defaults to a random secret stored in VB_DATA_DIR/control-plane.secret (one machine); set it from a Secret in a cluster.',
  },
  {
    name: 'VB_SCHEDULER_TLS_CERT',
    default: '',
    usedBy: 'scheduler',
    doc: 'PEM certificate (chain) file of the scheduler gRPC server; with VB_SCHEDULER_TLS_KEY it serves TLS only.',
  },
  {
    name: 'VB_SCHEDULER_TLS_KEY',
    default: '',
    usedBy: 'scheduler',
    doc: 'PEM private key file of the scheduler gRPC server.',
  },
  {
    name: 'VB_SCHEDULER_TLS_CA',
    default: '',
    usedBy: 'api, worker',
    doc: "PEM CA file the api and workers verify the scheduler's certificate with; when set they connect over TLS.",
  },
  {
    name: 'VB_SCHEDULER_GRACE_S',
    default: '120',
    usedBy: 'worker',
    doc: 'How long a worker keeps running its tasks while it cannot reach any scheduler (a rollout, a restart); past it the worker stops its lease. A new leader also waits one lease TTL before it expires leases.',
  },
  {
    name: 'VB_LEADER_TTL_MS',
    default: '5000',
    usedBy: 'scheduler',
    doc: 'TTL of the leader lease among scheduler replicas: a dead leader is replaced after at most this long (plus one tick).',
  },
  {
    name: 'VB_SCHEDULER_REPLICA_ID',
    default: '(hostname-pid)',
    usedBy: 'scheduler',
    doc: 'Name of this scheduler replica in its leader token and logs.',
  },
  {
    name: 'VB_JOB_RETENTION_S',
    default: '${VB_BATCH_TTL_S}',
    usedBy: 'scheduler',
    doc: 'How long a terminal job (record, stages, tasks, logs, events, meter) is kept before it is collected; by default as long as its output batches.',
  },
  {
    name: 'VB_JOB_LOG_LIMIT',
    default: '10000',
    usedBy: 'api, scheduler, worker',
    doc: 'Log lines kept per job; further lines are dropped and counted (`droppedLogLines` in the logs answer).',
  },
  {
    name: 'VB_EVENTS_MAX_STREAMS',
    default: '1000',
    usedBy: 'api',
    doc: 'Most job event streams (`GET .../jobs/{jobId}/events`) one api process serves at once; past it a new stream is refused with 503 `VB_ERR_TOO_MANY_STREAMS`. All of them share one Redis connection.',
  },
  {
    name: 'VB_EVENTS_HEARTBEAT_S',
    default: '15',
    usedBy: 'api',
    doc: 'Seconds between heartbeat comments on a job event stream, so proxies and VB_API_IDLE_TIMEOUT_S never close a quiet one.',
  },
  {
    name: 'VB_EVENTS_IDLE_TIMEOUT_S',
    default: '600',
    usedBy: 'api',
    doc: 'A job event stream on which the job wrote no event for this long is closed (`event: close`, reason `idle`); the client reconnects with `Last-Event-ID` if it still wants to follow.',
  },
  {
    name: 'VB_EVENTS_MAX_DURATION_S',
    default: '3600',
    usedBy: 'api',
    doc: 'Longest life of one job event stream (`event: close`, reason `max-duration`); the client reconnects with `Last-Event-ID`.',
  },
  {
    name: 'VB_ESTIMATE_SAMPLE_FILES',
    default: '8',
    usedBy: 'api',
    doc: 'Images a cost estimate (`POST .../jobs/estimate`) runs, spread evenly over the batch.',
  },
  {
    name: 'VB_ESTIMATE_SAMPLE_SECONDS',
    default: '4',
    usedBy: 'api',
    doc: 'Seconds of one video (from its start) a cost estimate of a video job runs.',
  },
  {
    name: 'VB_ESTIMATE_WAIT_S',
    default: '120',
    usedBy: 'api',
    doc: 'How long `POST .../jobs/estimate` waits for its sample job; past it the answer is 202 with the estimate job id, and `GET .../jobs/{id}/estimate` gives the estimate once it is done.',
  },
  {
    name: 'VB_ESTIMATE_TIMEOUT_S',
    default: '600',
    usedBy: 'api',
    doc: "Processing budget (`processingTimeoutSeconds`) of an estimate's sample job: a sample that gets no machine within it fails instead of waiting forever.",
  },
  {
    name: 'VB_FAULT_POINTS',
    default: '',
    usedBy: 'scheduler (tests only)',
    doc: 'Test-only: comma-separated fault points (`after-terminal-write`, `before-webhook-enqueue`, `after-webhook-enqueue`, `mid-plan`, `mid-export`, each optionally `:n`) where the scheduler kills itself (SIGKILL) the n-th time it gets there. Never set it in production.',
  },
] as const;

export type StoreConfig =
  | { driver: 'fs'; dir: string }
  | { driver: 's3'; endPoint: string; accessKey: string; secretKey: string; bucket: string; region: string };

/** Compiled configuration: units resolved, frozen. */
export interface Config {
  dataDir: string;
  logLevel: string;
  redis: RedisConnectionConfig;
  redisPort: number;
  api: {
    host: string;
    port: number;
    /** port of /metrics (and /healthz, /readyz), off the public port */
    opsPort: number;
    publicUrl: string;
    mountPrefix: string;
    /** api key → workspace */
    keys: ReadonlyMap<string, string>;
    urlSigningSecret: string | null;
    uploadUrlTtlMs: number;
    downloadUrlTtlMs: number;
    maxUploadBytes: number;
    /** longest time to receive one whole request (Node's requestTimeout) */
    requestTimeoutMs: number;
    /** a connection idle this long is closed */
    idleTimeoutMs: number;
    /** limits of the child process that loads and runs an uploaded model */
    modelValidation: { timeoutMs: number; maxMemoryBytes: number };
  };
  limits: {
    maxImageBytes: number;
    batchTtlMs: number;
    batchGcIntervalMs: number;
    imagesPerTask: number;
    /** split videos longer than this into segments of this length (stateless workflows); 0 = never */
    videoSegmentSeconds: number;
  };
  store: StoreConfig;
  scheduler: {
    grpcHost: string;
    grpcPort: number;
    url: string;
    httpPort: number;
    tickMs: number;
    taskAttempts: number;
    creditsPerHour: { cpu: number; gpu: number };
    publishableKeys: ReadonlyMap<string, string>;
    urlAllowlist: readonly string[];
    referenceConcurrency: number;
    /** total deadlines of the ingest's outbound calls, ms */
    deadlines: IngestDeadlines;
  };
  worker: {
    httpPort: number;
    pool: 'cpu' | 'gpu';
    id: string;
    slotsOverride: number | null;
    /** CPUs this machine may use (VB_WORKER_CPU_REQUEST); null: all of the machine's cores */
    cpus: number | null;
    cacheDir: string;
    taskLockMs: number;
    /** longest a task attempt may run */
    taskTimeoutMs: number;
  };
  autoscaler: AutoscalerConfig;
  events: EventStreamsConfig;
  estimate: EstimateConfig;
  leaseTtlMs: number;
  controlPlane: ControlPlaneConfig;
  lifecycle: LifecycleConfig;
}

/** How the scheduler's gRPC control plane is secured. */
export interface ControlPlaneConfig {
  /** shared secret; null: a random secret kept in the data directory */
  secret: string | null;
  /** server certificate and key files (scheduler) */
  tlsCert: string | null;
  tlsKey: string | null;
  /** CA file the clients verify the server with (api, workers); set = TLS */
  tlsCa: string | null;
}

/** Bounds of the api's job event streams (Server-Sent Events). */
export interface EventStreamsConfig {
  /** streams one api process serves at once */
  maxStreams: number;
  heartbeatMs: number;
  /** a stream with no job event for this long closes */
  idleTimeoutMs: number;
  /** longest life of one stream */
  maxDurationMs: number;
}

/** Cost estimates: the sample each runs and how long the api waits for it. */
export interface EstimateConfig {
  sampleFiles: number;
  sampleVideoSeconds: number;
  waitMs: number;
  /** processingTimeoutSeconds of the sample job */
  jobTimeoutS: number;
}

/** Jobs over time: replicas, retention, limits. */
export interface LifecycleConfig {
  /** a worker keeps working this long without reaching a scheduler */
  schedulerGraceMs: number;
  leaderTtlMs: number;
  replicaId: string;
  jobRetentionMs: number;
  maxLogLines: number;
  /** test-only fault points (VB_FAULT_POINTS) */
  faultPoints: string[];
}

/** Total deadlines (ms) of the scheduler's outbound calls on the ingest side. */
export interface IngestDeadlines {
  downloadMs: number;
  dnsMs: number;
  webhookMs: number;
  storeCallMs: number;
  shardIndexMs: number;
}

/** How every process reaches Redis (ioredis options are derived from it in `redis.ts`). */
export interface RedisConnectionConfig {
  /** `redis://` or `rediss://` (TLS) URL; may carry user, password and database */
  url: string;
  /** replaces the URL's password when set */
  password: string | null;
  /** PEM file of a private CA to trust for `rediss://` */
  tlsCaFile: string | null;
  /** Sentinels to ask for the master; empty: connect to the URL's host */
  sentinels: readonly { host: string; port: number }[];
  sentinelMaster: string;
  sentinelPassword: string | null;
}

/** Pool limits of the autoscaler. */
export interface PoolLimits {
  min: number;
  max: number;
}

/** The autoscaler's settings (scheduler). */
export interface AutoscalerConfig {
  /** @default 'static' */
  actuator: 'static' | 'local' | 'kubernetes';
  /** @default 2000 */
  intervalMs: number;
  pools: { cpu: PoolLimits; gpu: PoolLimits };
  /** @default 300_000 */
  targetDrainMs: number;
  /** @default 60_000 */
  scaleDownCooldownMs: number;
  /** @default 4 */
  defaultFilesPerMachineSecond: number;
  /** null: the service account's namespace, else `default` */
  k8sNamespace: string | null;
  /** pool → Deployment name; a pool without one is sized but not actuated */
  k8sDeployments: { cpu: string | null; gpu: string | null };
}

/** Thrown when an environment variable has a bad value; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A comma-separated list, blanks dropped. */
function list(env: Env, name: string): string[] {
  return (raw(env, name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function int(env: Env, name: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `expected an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function num(env: Env, name: string, dflt: number, min = 0): number {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(name, `expected a number >= ${min}, got "${v}"`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], dflt: T): T {
  const v = raw(env, name) ?? dflt;
  if (!allowed.includes(v as T))
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

function url(env: Env, name: string, dflt: string): string {
  const v = raw(env, name) ?? dflt;
  try {
    new URL(v);
  } catch {
    throw new ConfigError(name, `not a valid URL: "${v}"`);
  }
  return v.replace(/\/+$/, '');
}

function pairs(env: Env, name: string, dflt: string, what: string): Map<string, string> {
  const v = raw(env, name) ?? dflt;
  const out = new Map<string, string>();
  for (const item of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = item.indexOf(':');
    if (i <= 0 || i === item.length - 1)
      throw new ConfigError(name, `expected ${what} pairs "a:b", got "${item}"`);
    out.set(item.slice(0, i), item.slice(i + 1));
  }
  return out;
}

/** Values that mark a secret nobody has filled in yet (`CHANGE-ME-...`, `<your key>`, `placeholder`). */
const PLACEHOLDER = /change[-_ ]?me|replace[-_ ]?me|placeholder|<[^<>]+>/i;

/**
 * A secret from the environment: `undefined` when unset. A variable that is set but blank, or that
 * still holds a placeholder, is a {@link ConfigError}: a deployment whose Secret was never filled in
 * must not start on a development default. The message never contains the value.
 */
export function secretVar(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  if (v.trim() === '') throw new ConfigError(name, 'is set but empty; set a real value or unset it');
  if (PLACEHOLDER.test(v))
    throw new ConfigError(name, 'still holds a placeholder value; replace it with a real secret');
  return v.trim();
}

/** A CPU count written as a Kubernetes quantity: `2`, `1.5` or `1500m`. */
function cpuQuantity(env: Env, name: string): number | null {
  const v = raw(env, name);
  if (v === undefined) return null;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(v);
  const cpus = m ? Number(m[1]) / (m[2] ? 1000 : 1) : Number.NaN;
  if (!(cpus > 0)) throw new ConfigError(name, `expected a CPU quantity such as 2, 1.5 or 1500m, got "${v}"`);
  return cpus;
}

function redisConfig(env: Env): RedisConnectionConfig {
  const name = 'VB_REDIS_URL';
  const value = raw(env, name) ?? `redis://127.0.0.1:${int(env, 'VB_REDIS_PORT', 6380, 1, 65535)}`;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    // The URL may hold a password: never repeat it.
    throw new ConfigError(name, 'not a valid URL (redis://[[user]:password@]host:port[/db] or rediss://...)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new ConfigError(name, `expected redis:// or rediss://, got ${parsed.protocol}//`);
  if (!/^\/?\d*$/.test(parsed.pathname))
    throw new ConfigError(name, `the path must be a database number, got "${parsed.pathname}"`);
  if (PLACEHOLDER.test(decodeURIComponent(parsed.password)))
    throw new ConfigError(name, 'the password in the URL is a placeholder; replace it with a real secret');
  const sentinels = (raw(env, 'VB_REDIS_SENTINELS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const m = /^(.+):(\d{1,5})$/.exec(item);
      if (!m) throw new ConfigError('VB_REDIS_SENTINELS', `expected host:port, got "${item}"`);
      return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
    });
  return {
    url: value,
    password: secretVar(env, 'VB_REDIS_PASSWORD') ?? null,
    tlsCaFile: raw(env, 'VB_REDIS_TLS_CA') ? path.resolve(raw(env, 'VB_REDIS_TLS_CA') as string) : null,
    sentinels,
    sentinelMaster: raw(env, 'VB_REDIS_SENTINEL_MASTER') ?? 'mymaster',
    sentinelPassword: secretVar(env, 'VB_REDIS_SENTINEL_PASSWORD') ?? null,
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof Map)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function poolLimits(env: Env, pool: 'CPU' | 'GPU', min: number, max: number): PoolLimits {
  const limits = {
    min: int(env, `VB_POOL_${pool}_MIN`, min, 0, 10_000),
    max: int(env, `VB_POOL_${pool}_MAX`, max, 0, 10_000),
  };
  if (limits.min > limits.max)
    throw new ConfigError(`VB_POOL_${pool}_MIN`, `must not exceed VB_POOL_${pool}_MAX (${limits.max})`);
  return limits;
}

function autoscalerConfig(env: Env): AutoscalerConfig {
  const deployments = pairs(env, 'VB_K8S_DEPLOYMENTS', 'cpu:worker-cpu,gpu:worker-gpu', 'pool:deployment');
  for (const pool of deployments.keys())
    if (pool !== 'cpu' && pool !== 'gpu')
      throw new ConfigError('VB_K8S_DEPLOYMENTS', `unknown pool "${pool}" (cpu or gpu)`);
  return {
    actuator: oneOf(env, 'VB_AUTOSCALER', ['static', 'local', 'kubernetes'] as const, 'static'),
    intervalMs: int(env, 'VB_AUTOSCALER_INTERVAL_MS', 2000, 100),
    pools: { cpu: poolLimits(env, 'CPU', 0, 4), gpu: poolLimits(env, 'GPU', 0, 2) },
    targetDrainMs: Math.round(num(env, 'VB_AUTOSCALER_TARGET_DRAIN_S', 300, 0.001) * 1000),
    scaleDownCooldownMs: Math.round(num(env, 'VB_AUTOSCALER_COOLDOWN_S', 60) * 1000),
    defaultFilesPerMachineSecond: num(env, 'VB_AUTOSCALER_FILES_PER_MACHINE_S', 4, 0.001),
    k8sNamespace: raw(env, 'VB_K8S_NAMESPACE') ?? null,
    k8sDeployments: { cpu: deployments.get('cpu') ?? null, gpu: deployments.get('gpu') ?? null },
  };
}

/** Parses the environment into the frozen {@link Config}; throws {@link ConfigError} naming the variable. */
export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(raw(env, 'VB_DATA_DIR') ?? './.data');
  const apiPort = int(env, 'VB_API_PORT', 8080, 0, 65535);
  const grpcPort = int(env, 'VB_SCHEDULER_GRPC_PORT', 50051, 0, 65535);
  const driver = oneOf(env, 'VB_STORE_DRIVER', ['fs', 's3'] as const, 'fs');
  let store: StoreConfig;
  if (driver === 's3') {
    const endPoint = raw(env, 'VB_S3_ENDPOINT');
    if (!endPoint) throw new ConfigError('VB_S3_ENDPOINT', 'required when VB_STORE_DRIVER=s3');
    store = {
      driver,
      endPoint: url(env, 'VB_S3_ENDPOINT', endPoint),
      accessKey: secretVar(env, 'VB_S3_ACCESS_KEY') ?? '',
      secretKey: secretVar(env, 'VB_S3_SECRET_KEY') ?? '',
      bucket: raw(env, 'VB_S3_BUCKET') ?? 'visionbatch',
      region: raw(env, 'VB_S3_REGION') ?? 'us-east-1',
    };
  } else {
    store = { driver, dir: path.resolve(raw(env, 'VB_STORE_FS_DIR') ?? path.join(dataDir, 'objects')) };
  }
  // Set but empty or a placeholder: refused (an unset variable keeps the development key).
  const keys = pairs({ VB_API_KEYS: secretVar(env, 'VB_API_KEYS') }, 'VB_API_KEYS', DEV_KEY, 'key:workspace');
  for (const ws of keys.values()) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(ws))
      throw new ConfigError('VB_API_KEYS', `workspace "${ws}" must match [A-Za-z0-9_-]{1,64}`);
  }
  const mountPrefix = (raw(env, 'VB_MOUNT_PREFIX') ?? '').replace(/\/+$/, '');
  if (mountPrefix && !mountPrefix.startsWith('/'))
    throw new ConfigError('VB_MOUNT_PREFIX', 'must start with "/"');
  const config: Config = {
    dataDir,
    logLevel: oneOf(
      env,
      'VB_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
    redis: redisConfig(env),
    redisPort: int(env, 'VB_REDIS_PORT', 6380, 1, 65535),
    api: {
      host: raw(env, 'VB_API_HOST') ?? '127.0.0.1',
      port: apiPort,
      opsPort: int(env, 'VB_API_OPS_PORT', 8083, 0, 65535),
      publicUrl: url(env, 'VB_PUBLIC_URL', `http://127.0.0.1:${apiPort}`),
      mountPrefix,
      keys,
      urlSigningSecret: secretVar(env, 'VB_URL_SIGNING_SECRET') ?? null,
      uploadUrlTtlMs: int(env, 'VB_UPLOAD_URL_TTL_S', 3600, 1) * 1000,
      downloadUrlTtlMs: int(env, 'VB_DOWNLOAD_URL_TTL_S', 3600, 1) * 1000,
      maxUploadBytes: int(env, 'VB_MAX_UPLOAD_BYTES', 2 * 1024 ** 3, 1),
      requestTimeoutMs: int(env, 'VB_API_REQUEST_TIMEOUT_S', 3600, 1) * 1000,
      idleTimeoutMs: int(env, 'VB_API_IDLE_TIMEOUT_S', 120, 1) * 1000,
      modelValidation: {
        timeoutMs: int(env, 'VB_MODEL_VALIDATION_TIMEOUT_S', 60, 1) * 1000,
        maxMemoryBytes: int(env, 'VB_MODEL_VALIDATION_MAX_MEMORY_MB', 2048, 64) * 1024 * 1024,
      },
    },
    limits: {
      maxImageBytes: int(env, 'VB_MAX_IMAGE_BYTES', 20 * 1024 * 1024, 1),
      batchTtlMs: int(env, 'VB_BATCH_TTL_S', 7 * 24 * 3600, 1) * 1000,
      batchGcIntervalMs: int(env, 'VB_BATCH_GC_INTERVAL_S', 60, 1) * 1000,
      imagesPerTask: int(env, 'VB_IMAGES_PER_TASK', 256, 1, 10_000),
      videoSegmentSeconds: int(env, 'VB_VIDEO_SEGMENT_SECONDS', 60, 0, 86_400),
    },
    store,
    scheduler: {
      grpcHost: raw(env, 'VB_SCHEDULER_GRPC_HOST') ?? '127.0.0.1',
      grpcPort,
      url: raw(env, 'VB_SCHEDULER_URL') ?? `127.0.0.1:${grpcPort}`,
      httpPort: int(env, 'VB_SCHEDULER_HTTP_PORT', 8081, 0, 65535),
      tickMs: int(env, 'VB_SCHEDULER_TICK_MS', 250, 10),
      taskAttempts: int(env, 'VB_TASK_ATTEMPTS', 3, 1, 100),
      creditsPerHour: {
        cpu: num(env, 'VB_CPU_CREDITS_PER_HOUR', 1),
        gpu: num(env, 'VB_GPU_CREDITS_PER_HOUR', 4),
      },
      publishableKeys: pairs(env, 'VB_PUBLISHABLE_KEYS', '', 'workspace:key'),
      urlAllowlist: list(env, 'VB_URL_ALLOWLIST'),
      referenceConcurrency: int(env, 'VB_REFERENCE_CONCURRENCY', 8, 1, 64),
      deadlines: {
        downloadMs: int(env, 'VB_DOWNLOAD_DEADLINE_S', 600, 1) * 1000,
        dnsMs: int(env, 'VB_DNS_TIMEOUT_MS', 5000, 1),
        webhookMs: int(env, 'VB_WEBHOOK_DEADLINE_S', 10, 1) * 1000,
        storeCallMs: int(env, 'VB_STORE_DEADLINE_S', 120, 1) * 1000,
        shardIndexMs: int(env, 'VB_SHARD_INDEX_DEADLINE_S', 900, 1) * 1000,
      },
    },
    worker: {
      httpPort: int(env, 'VB_WORKER_HTTP_PORT', 8082, 0, 65535),
      pool: oneOf(env, 'VB_WORKER_POOL', ['cpu', 'gpu'] as const, 'cpu'),
      id: raw(env, 'VB_WORKER_ID') ?? `${os.hostname()}-${process.pid}`,
      slotsOverride:
        raw(env, 'VB_WORKER_SLOTS') === undefined ? null : int(env, 'VB_WORKER_SLOTS', 1, 1, 256),
      cpus: cpuQuantity(env, 'VB_WORKER_CPU_REQUEST'),
      cacheDir: path.resolve(raw(env, 'VB_WORKER_CACHE_DIR') ?? path.join(dataDir, 'worker-cache')),
      taskLockMs: int(env, 'VB_TASK_LOCK_MS', 30_000, 1000),
      taskTimeoutMs: int(env, 'VB_TASK_TIMEOUT_S', 540, 1) * 1000,
    },
    autoscaler: autoscalerConfig(env),
    events: {
      maxStreams: int(env, 'VB_EVENTS_MAX_STREAMS', 1000, 1, 1_000_000),
      heartbeatMs: Math.round(num(env, 'VB_EVENTS_HEARTBEAT_S', 15, 0.05) * 1000),
      idleTimeoutMs: Math.round(num(env, 'VB_EVENTS_IDLE_TIMEOUT_S', 600, 0.1) * 1000),
      maxDurationMs: Math.round(num(env, 'VB_EVENTS_MAX_DURATION_S', 3600, 0.1) * 1000),
    },
    estimate: {
      sampleFiles: int(env, 'VB_ESTIMATE_SAMPLE_FILES', 8, 1, 256),
      sampleVideoSeconds: num(env, 'VB_ESTIMATE_SAMPLE_SECONDS', 4, 0.1),
      waitMs: Math.round(num(env, 'VB_ESTIMATE_WAIT_S', 120, 0) * 1000),
      jobTimeoutS: int(env, 'VB_ESTIMATE_TIMEOUT_S', 600, 1, 7 * 24 * 3600),
    },
    leaseTtlMs: int(env, 'VB_LEASE_TTL_MS', 15_000, 1000),
    controlPlane: {
      secret: secretVar(env, 'VB_CONTROL_PLANE_SECRET') ?? null,
      tlsCert: raw(env, 'VB_SCHEDULER_TLS_CERT') ?? null,
      tlsKey: raw(env, 'VB_SCHEDULER_TLS_KEY') ?? null,
      tlsCa: raw(env, 'VB_SCHEDULER_TLS_CA') ?? null,
    },
    lifecycle: {
      schedulerGraceMs: int(env, 'VB_SCHEDULER_GRACE_S', 120, 1) * 1000,
      leaderTtlMs: int(env, 'VB_LEADER_TTL_MS', 5000, 300),
      replicaId: raw(env, 'VB_SCHEDULER_REPLICA_ID') ?? `${os.hostname()}-${process.pid}`,
      jobRetentionMs: int(env, 'VB_JOB_RETENTION_S', int(env, 'VB_BATCH_TTL_S', 7 * 24 * 3600, 1), 1) * 1000,
      maxLogLines: int(env, 'VB_JOB_LOG_LIMIT', 10_000, 1),
      faultPoints: list(env, 'VB_FAULT_POINTS'),
    },
  };
  if (!!config.controlPlane.tlsCert !== !!config.controlPlane.tlsKey)
    throw new ConfigError(
      'VB_SCHEDULER_TLS_KEY',
      'set both VB_SCHEDULER_TLS_CERT and VB_SCHEDULER_TLS_KEY, or neither',
    );
  return deepFreeze(config);
}
