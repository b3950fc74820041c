import { randomUUID } from 'node:crypto';
import { Errors } from '@visionbatch/shared/errors';
import { assertModelId, assertWorkflowId } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { iso } from '@visionbatch/shared/time';
import type { FastifyInstance } from 'fastify';
import { assertJsonDepth } from '../body-parsers.ts';
import type { ApiDeps } from '../deps.ts';
import { parseModelConfig, resolveModelConfig } from '../model-config.ts';
import { readModelForm } from '../model-upload.ts';
import { inspectModel, VALIDATE_MAX_BYTES } from '../model-validation.ts';
import { compileForApi, registeredModels } from '../workflow-compile.ts';

const MAX_MODEL_BYTES = 1024 ** 3;

/**
 * Accepts the three shapes of spec/workflows.md §1.1 and returns the bare definition:
 * the definition itself, `{"specification": {...}}`, or Roboflow's `{"workflow": {"config": "<json>"}}`.
 * Envelopes are unwrapped in a loop (never by recursion), and JSON found in `workflow.config` is
 * held to the same depth limit as a request body.
 */
export function bareDefinition(body: unknown): Record<string, unknown> {
  let current = body;
  let field = 'body';
  for (;;) {
    if (!current || typeof current !== 'object' || Array.isArray(current))
      throw Errors.validation(field, 'must be a JSON object');
    const b = current as Record<string, unknown>;
    const wf = b.workflow as Record<string, unknown> | undefined;
    if (wf && typeof wf.config === 'string') {
      try {
        current = JSON.parse(wf.config);
      } catch {
        throw Errors.validation('workflow.config', 'is not valid JSON');
      }
      field = 'workflow.config';
      assertJsonDepth(current, field);
    } else if (b.specification && typeof b.specification === 'object') {
      current = b.specification;
      field = 'specification';
    } else {
      for (const f of ['inputs', 'steps', 'outputs'])
        if (!Array.isArray(b[f])) throw Errors.validation(f, 'must be an array');
      return b;
    }
  }
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
      const workflowId = assertWorkflowId(req.params.workflowId);
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
    const rec = await deps.registry.getWorkflow(req.workspace, assertWorkflowId(req.params.workflowId));
    if (!rec) throw Errors.notFound('workflow', req.params.workflowId);
    return { workflow: rec };
  });
  app.get<{ Params: { workspace: string } }>(WF, async (req) => ({
    workflows: await deps.registry.listWorkflows(req.workspace),
    nextPageToken: null,
  }));
  app.delete<{ Params: WfParams }>(`${WF}/:workflowId`, async (req) => {
    if (!(await deps.registry.deleteWorkflow(req.workspace, assertWorkflowId(req.params.workflowId))))
      throw Errors.notFound('workflow', req.params.workflowId);
    return { workflowId: req.params.workflowId, status: 'deleted' };
  });

  const MD = '/models/v1/external/:workspace/models';
  type MdParams = { workspace: string; '*': string };
  const modelIdOf = (p: MdParams) => assertModelId(p['*']);

  app.put<{ Params: MdParams }>(`${MD}/*`, async (req) => {
    const modelId = modelIdOf(req.params);
    if (!req.isMultipart())
      throw Errors.unsupportedMedia(
        'expected multipart/form-data with a "config" field and a "weights" file',
      );
    const key = objectKeys.modelWeights(req.workspace, modelId, randomUUID());
    const previous = await deps.registry.getModel(req.workspace, modelId);
    const discard = async (err: unknown): Promise<never> => {
      await deps.store.delete(key).catch(() => {});
      throw err;
    };
    const form = await readModelForm(req, deps.store, key, MAX_MODEL_BYTES);
    let config: ReturnType<typeof parseModelConfig> | null;
    try {
      config = form.config === undefined ? null : parseModelConfig(form.config);
    } catch (err) {
      return discard(err);
    }
    const weights = form.weights;
    if (!weights || weights.bytes === 0)
      return discard(Errors.validation('weights', 'missing or empty file'));
    // The config is optional: what it leaves out comes from the file (Ultralytics metadata, graph
    // shapes), read in the inspection child. Models too large to read are stored unread, so their
    // config must be complete.
    let resolved: Awaited<ReturnType<typeof inspectModel>>;
    try {
      resolved =
        weights.bytes <= VALIDATE_MAX_BYTES
          ? await inspectModel(
              { modelId, config, weightsBytes: weights.bytes },
              await deps.store.get(key),
              deps.config.api.modelValidation,
            )
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
