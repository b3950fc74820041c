import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ApiClient, seg } from './api-client.ts';
import { CliError } from './cli-error.ts';

/** `/workflows/v1/external/{ws}/workflows` */
async function workflowsPath(client: ApiClient): Promise<string> {
  return `/workflows/v1/external/${seg(await client.workspace())}/workflows`;
}

/** `/models/v1/external/{ws}/models` */
async function modelsPath(client: ApiClient): Promise<string> {
  return `/models/v1/external/${seg(await client.workspace())}/models`;
}

/** A model id as a path: `project/version` keeps its slash (each segment encoded on its own). */
export function modelIdPath(modelId: string): string {
  if (!modelId || modelId.startsWith('/') || modelId.endsWith('/'))
    throw new CliError(`bad model id "${modelId}": expected project/version`);
  return modelId.split('/').map(seg).join('/');
}

async function readJsonFile(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${what} ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** `workflows put`: stores a definition file (bare, `{"specification"}` or Roboflow's export shape). */
export async function putWorkflow(
  client: ApiClient,
  workflowId: string,
  definition: unknown,
): Promise<unknown> {
  return client.put(`${await workflowsPath(client)}/${seg(workflowId)}`, { json: definition });
}

export async function putWorkflowFile(client: ApiClient, workflowId: string, file: string): Promise<unknown> {
  return putWorkflow(client, workflowId, await readJsonFile(file, 'workflow definition'));
}

/** A warning of the workflow compiler (the save answer's `warnings`, the `workflow-warning` logs). */
export interface WorkflowWarning {
  step: string;
  field: string;
  message: string;
}

/** `Warning: step "det": "iou" is not a field of …` lines of a save answer's warnings. */
export function workflowWarningLines(answer: unknown): string[] {
  const warnings = (answer as { warnings?: WorkflowWarning[] } | null)?.warnings ?? [];
  return warnings.map((w) => `Warning: step "${w.step}": ${w.message}`);
}

export async function getWorkflow(client: ApiClient, workflowId: string): Promise<unknown> {
  return client.get(`${await workflowsPath(client)}/${seg(workflowId)}`);
}

export async function listWorkflows(client: ApiClient): Promise<unknown> {
  return client.get(await workflowsPath(client));
}

export async function deleteWorkflow(client: ApiClient, workflowId: string): Promise<unknown> {
  return client.delete(`${await workflowsPath(client)}/${seg(workflowId)}`);
}

/**
 * `models upload`: `PUT .../models/{project/version}` as multipart/form-data with a file field
 * `weights` (the ONNX file) and, when given, a text field `config` (the JSON config; without it the
 * api reads an Ultralytics export's metadata and graph).
 */
export async function uploadModel(
  client: ApiClient,
  o: { modelId: string; weights: string; config?: string | Record<string, unknown> },
): Promise<unknown> {
  const config = typeof o.config === 'string' ? await readJsonFile(o.config, 'model config') : o.config;
  let weights: Buffer;
  try {
    weights = await readFile(o.weights);
  } catch (e) {
    throw new CliError(`cannot read weights ${o.weights}: ${(e as Error).message}`, { cause: e });
  }
  const form = new FormData();
  if (config !== undefined) form.append('config', JSON.stringify(config));
  form.append('weights', new Blob([weights], { type: 'application/octet-stream' }), path.basename(o.weights));
  return client.put(`${await modelsPath(client)}/${modelIdPath(o.modelId)}`, { body: form });
}

export async function getModel(client: ApiClient, modelId: string): Promise<unknown> {
  return client.get(`${await modelsPath(client)}/${modelIdPath(modelId)}`);
}

export async function listModels(client: ApiClient): Promise<unknown> {
  return client.get(await modelsPath(client));
}

export async function deleteModel(client: ApiClient, modelId: string): Promise<unknown> {
  return client.delete(`${await modelsPath(client)}/${modelIdPath(modelId)}`);
}
