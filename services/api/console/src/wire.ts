/** The answers the console reads (the api's wire shapes, packages/shared/src/wire). */

export interface Job {
  jobId: string;
  name: string;
  state?: 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';
  jobDefinition: {
    type: string;
    jobInput: { batchId: string; partName?: string };
    computeConfiguration: { machineType?: 'cpu' | 'gpu'; workersPerMachine?: number };
    processingTimeoutSeconds?: number;
    maxParallelTasks?: number;
    notificationsURL?: string;
    processingSpecification: {
      workflowId: string;
      persistImagesOutputs?: boolean;
      aggregationFormat?: string;
      maxVideoFPS?: number;
    };
  };
  currentStage: string | null;
  plannedStages: string[] | null;
  error: boolean;
  isTerminal: boolean;
  lastNotification: string | Record<string, unknown> | null;
  createdAt: string;
  lastUpdate: string;
  restartParametersOverride: unknown[];
  computeUsage: { cpuSeconds: number; gpuSeconds: number; credits: number };
  progress?: number;
  estimatedCompletion?: string | null;
}

export interface Stage {
  processingStageId: string;
  processingStageName: string;
  tasksNumber: number;
  outputBatches: string[];
  startTimestamp: string;
  notification: string | Record<string, unknown>;
  statusType: 'info' | 'success' | 'error';
  lastEventTimestamp: string;
}

export interface Task {
  taskId: string;
  notification: string | Record<string, unknown>;
  statusType: 'info' | 'success' | 'error';
  progress: number | null;
  eventTimestamp: string;
}

export interface LogLine {
  createdAt: string;
  processingStageId: string | null;
  taskId: string | null;
  severity: 'info' | 'warning' | 'error';
  reportingModule: string;
  logType: string;
  payload: Record<string, unknown>;
}

export interface Batch {
  batchId: string;
  displayName: string;
  batchType: string;
  batchContentType: string;
  createdDate: string;
  expiryDate: string;
}

export interface FileMeta {
  downloadURL: string;
  fileName: string;
  partName?: string;
  shardId?: string;
  contentType: string;
}

export interface Shard {
  shardId: string;
  statusName: string;
  statusType: string;
  eventTimestamp: string;
  shardObjectsCount: number;
  statusMetadata?: Record<string, unknown>;
}

/** A cost estimate (packages/shared/src/wire/job-estimate.ts), the fields the console shows. */
export interface Estimate {
  estimateJobId: string;
  status: 'done';
  pool: 'cpu' | 'gpu';
  machines: number;
  machinesUsed: number;
  unit: 'image' | 'frame';
  sample: { files: number; units: number };
  batch: { files: number; units: number; tasks: number };
  perUnitSeconds: { mean: number; min: number; max: number };
  predicted: { machineSeconds: { cpu: number; gpu: number }; credits: number; wallSeconds: number };
  estimateCost: { credits: number };
}

/** 202: the estimate's sample job still runs. */
export interface EstimatePending {
  estimateJobId: string;
  status: 'running';
}

export interface Pool {
  pool: 'cpu' | 'gpu';
  liveMachines: number;
  busyMachines: number;
  desiredMachines: number | null;
  targetMachines: number | null;
  filesPerMachineSecond: number | null;
  throughputMeasured: boolean;
  updatedAt: string | null;
  leases: { jobId: string; machineId: string; startedAt: string; lastHeartbeat: string }[];
}
