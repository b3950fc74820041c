import { createHash, randomUUID } from 'node:crypto';
import { Transform } from 'node:stream';
import { Errors } from '@visionbatch/shared/errors';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { iso } from '@visionbatch/shared/time';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { type ModelConfigInput, parseModelConfig, resolveModelConfig } from '../model-config.ts';
import { inspectModel, VALIDATE_MAX_BYTES } from '../model-validation.ts';
import { compileForApi, registeredModels } from '../workflow-compile.ts';

const WORKFLOW_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const MODEL_ID_RE = /^[A-Za-z0-9_.-]{1,100}(\/[A-Za-z0-9_.-]{1,100})?$/;
const MAX_MODEL_BYTES = 1024 ** 3;

/**
 * Accepts the three shapes of spec/workflows.md §1.1 and returns the bare definition:
 * the definition itself, `{"specification": {...}}`, or Roboflow's `{"workflow": {"config": "<json>"}}`.
 */
export function bareDefinition(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw Errors.validation('body', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  const wf = b.workflow as Record<string, unknown> | undefined;
  if (wf && typeof wf.config === 'string') {
    let cfg: unknown;
    try {
      cfg = JSON.parse(wf.config);
    } catch {
      throw Errors.validation('workflow.config', 'is not valid JSON');
    }
    return bareDefinition(cfg);
  }
  if (b.specification && typeof b.specification === 'object') return bareDefinition(b.specification);
  for (const field of ['inputs', 'steps', 'outputs']) {
    if (!Array.isArray(b[field])) throw Errors.validation(field, 'must be an array');
  }
  return b;
}

/** Workflow and model registries of a workspace (visionbatch endpoints). */
export function registryRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  validateWorkflow: (ws: string, def: Record<string, unknown>) => Promise<void>,
): void {
  const WF = '/workflows/v1/external/:workspace/workflows';
  type WfParams = { workspace: string; workflowId: string };

  app.put<{ Params: WfParams; Body: unknown }>(
    `${WF}/:workflowId`,
    { bodyLimit: 4 * 1024 * 1024 },
    async (req) => {
      const { workflowId } = req.params;
      if (!WORKFLOW_ID_RE.test(workflowId))
        throw Errors.validation('workflowId', 'must match [A-Za-z0-9_-]{1,128}');
      const definition = bareDefinition(req.body);
      await validateWorkflow(req.workspace, definition);
      const { models } = await registeredModels(req.workspace, definition, deps.registry);
      const warnings = compileForApi(definition, models, { fieldPrefix: '', unknownModels: 'allow' });
      const now = iso(deps.clock.now());
      const prev = await deps.registry.getWorkflow(req.workspace, workflowId);
      await deps.registry.putWorkflow(req.workspace, {
        workflowId,
        definition,
        createdAt: prev?.createdAt ?? now,
        updatedAt: now,
      });
      return { workflowId, status: prev ? 'updated' : 'created', warnings };
    },
  );
  app.get<{ Params: WfParams }>(`${WF}/:workflowId`, async (req) => {
    const rec = await deps.registry.getWorkflow(req.workspace, req.params.workflowId);
    if (!rec) throw Errors.notFound('workflow', req.params.workflowId);
    return { workflow: rec };
  });
  app.get<{ Params: { workspace: string } }>(WF, async (req) => ({
    workflows: await deps.registry.listWorkflows(req.workspace),
    nextPageToken: null,
  }));
  app.delete<{ Params: WfParams }>(`${WF}/:workflowId`, async (req) => {
    if (!(await deps.registry.deleteWorkflow(req.workspace, req.params.workflowId)))
      throw Errors.notFound('workflow', req.params.workflowId);
    return { workflowId: req.params.workflowId, status: 'deleted' };
  });

  const MD = '/models/v1/external/:workspace/models';
  type MdParams = { workspace: string; '*': string };
  const modelIdOf = (p: MdParams) => {
    const id = p['*'];
    if (!MODEL_ID_RE.test(id))
      throw Errors.validation('modelId', 'must look like "project/version" of [A-Za-z0-9_.-]');
    return id;
  };

  app.put<{ Params: MdParams }>(`${MD}/*`, async (req) => {
    const modelId = modelIdOf(req.params);
    if (!req.isMultipart())
      throw Errors.unsupportedMedia(
        'expected multipart/form-data with a "config" field and a "weights" file',
      );
    const key = objectKeys.modelWeights(req.workspace, modelId, randomUUID());
    const previous = await deps.registry.getModel(req.workspace, modelId);
    let config: ModelConfigInput | null = null;
    let weights: { sha256: string; bytes: number } | null = null;
    const discard = async (err: unknown): Promise<never> => {
      await deps.store.delete(key).catch(() => {});
      throw err;
    };
    try {
      for await (const part of req.parts({
        limits: { fileSize: MAX_MODEL_BYTES, files: 1, fields: 4, fieldSize: 1024 * 1024 },
      })) {
        if (part.type === 'field' && part.fieldname === 'config') {
          config = parseModelConfig(String(part.value));
        } else if (part.type === 'file' && part.fieldname === 'weights') {
          const hash = createHash('sha256');
          let bytes = 0;
          const tap = new Transform({
            transform(chunk: Buffer, _e, cb) {
              hash.update(chunk);
              bytes += chunk.length;
              cb(null, chunk);
            },
          });
          await deps.store.put(key, part.file.pipe(tap), { contentType: 'application/octet-stream' });
          if (part.file.truncated) throw Errors.payloadTooLarge('model weights', MAX_MODEL_BYTES);
          weights = { sha256: hash.digest('hex'), bytes };
        } else if (part.type === 'file') {
          part.file.resume();
        }
      }
    } catch (err) {
      await discard(err);
    }
    if (!weights || weights.bytes === 0)
      return discard(Errors.validation('weights', 'missing or empty file'));
    // The config is optional: what it leaves out comes from the file (Ultralytics metadata, graph
    // shapes), read in the inspection child. Models too large to read are stored unread, so their
    // config must be complete.
    let resolved: Awaited<ReturnType<typeof inspectModel>>;
    try {
      resolved =
        weights.bytes <= VALIDATE_MAX_BYTES
          ? await inspectModel({ modelId, config, weightsBytes: weights.bytes }, await deps.store.get(key))
          : resolveModelConfig(config, null);
    } catch (err) {
      return discard(err);
    }
    const rec: ModelRecord = {
      modelId,
      ...resolved.config,
      weightsKey: key,
      weightsSha256: weights.sha256,
      weightsBytes: weights.bytes,
      createdAt: iso(deps.clock.now()),
    };
    await deps.registry.putModel(req.workspace, rec);
    if (previous && previous.weightsKey !== key) await deps.store.delete(previous.weightsKey);
    return { model: rec, configSources: resolved.sources };
  });
  app.get<{ Params: MdParams }>(`${MD}/*`, async (req) => {
    const modelId = modelIdOf(req.params);
    const rec = await deps.registry.getModel(req.workspace, modelId);
    if (!rec) throw Errors.notFound('model', modelId);
    return { model: rec };
  });
  app.get<{ Params: { workspace: string } }>(MD, async (req) => ({
    models: await deps.registry.listModels(req.workspace),
    nextPageToken: null,
  }));
  app.delete<{ Params: MdParams }>(`${MD}/*`, async (req) => {
    const modelId = modelIdOf(req.params);
    const rec = await deps.registry.getModel(req.workspace, modelId);
    if (!rec) throw Errors.notFound('model', modelId);
    await deps.registry.deleteModel(req.workspace, modelId);
    await deps.store.delete(rec.weightsKey);
    return { modelId, status: 'deleted' };
  });
}
