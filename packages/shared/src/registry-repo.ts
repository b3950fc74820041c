import type { Redis } from 'ioredis';
import { keys } from './redis-keys.ts';

/** A model registered in a workspace (spec/workflows.md §5.4). */
export interface ModelRecord {
  modelId: string;
  task: 'object-detection' | 'classification' | 'multi-label-classification';
  architecture: string;
  classNames: string[];
  input: { width: number; height: number };
  resizeMode: 'stretch' | 'letterbox' | 'center-crop' | 'shortest-edge-center-crop';
  paddingValue: number;
  postProcessing: 'nms' | 'nms-fused' | 'softmax' | 'softmax-fused' | 'sigmoid';
  defaults: { confidence: number; iouThreshold: number; maxDetections: number; classAgnosticNms: boolean };
  /** free text from the config, or the model's `description` metadata (Ultralytics exports) */
  description?: string;
  /** from the config, or the model's `author` metadata */
  author?: string;
  /** object key of the ONNX weights */
  weightsKey: string;
  weightsSha256: string;
  weightsBytes: number;
  createdAt: string;
}

/** A stored workflow definition (the bare definition, §1.1). */
export interface WorkflowRecord {
  workflowId: string;
  definition: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** Redis repository of workflow definitions and model records of each workspace. */
export class RegistryRepo {
  constructor(private readonly redis: Redis) {}

  async putWorkflow(ws: string, rec: WorkflowRecord): Promise<void> {
    await this.redis
      .multi()
      .set(keys.workflow(ws, rec.workflowId), JSON.stringify(rec))
      .zadd(keys.workflowIndex(ws), '0', rec.workflowId)
      .exec();
  }

  async getWorkflow(ws: string, id: string): Promise<WorkflowRecord | null> {
    const v = await this.redis.get(keys.workflow(ws, id));
    return v ? (JSON.parse(v) as WorkflowRecord) : null;
  }

  async listWorkflows(ws: string): Promise<string[]> {
    return this.redis.zrange(keys.workflowIndex(ws), '0', '-1');
  }

  async deleteWorkflow(ws: string, id: string): Promise<boolean> {
    const [[, n]] = (await this.redis
      .multi()
      .del(keys.workflow(ws, id))
      .zrem(keys.workflowIndex(ws), id)
      .exec()) as [[null, number]];
    return n > 0;
  }

  async putModel(ws: string, rec: ModelRecord): Promise<void> {
    await this.redis
      .multi()
      .set(keys.model(ws, rec.modelId), JSON.stringify(rec))
      .zadd(keys.modelIndex(ws), '0', rec.modelId)
      .exec();
  }

  async getModel(ws: string, modelId: string): Promise<ModelRecord | null> {
    const v = await this.redis.get(keys.model(ws, modelId));
    return v ? (JSON.parse(v) as ModelRecord) : null;
  }

  async listModels(ws: string): Promise<string[]> {
    return this.redis.zrange(keys.modelIndex(ws), '0', '-1');
  }

  async deleteModel(ws: string, modelId: string): Promise<boolean> {
    const [[, n]] = (await this.redis
      .multi()
      .del(keys.model(ws, modelId))
      .zrem(keys.modelIndex(ws), modelId)
      .exec()) as [[null, number]];
    return n > 0;
  }
}
