import { z } from 'zod';
import * as batchProcessing from './batch-processing.ts';
import * as common from './common.ts';
import * as dataStaging from './data-staging.ts';
import * as jobEstimate from './job-estimate.ts';
import * as jobEvents from './job-events.ts';
import * as registry from './registry.ts';
import { type RawAnswer, ROUTES, type RouteSpec } from './routes.ts';
import * as visionbatch from './visionbatch.ts';

/** Options of {@link openApiDocument}. */
export interface OpenApiOptions {
  /** `info.version` */
  version: string;
  /** the server URL clients use (the api's public URL, mount prefix included) */
  serverUrl: string;
}

type Json = Record<string, unknown>;

const isRaw = (a: z.ZodType | RawAnswer): a is RawAnswer => 'raw' in a;

/** `/jobs/:jobId` → `/jobs/{jobId}`; the model routes' `*` → `{modelId}`. */
export function openApiPath(route: Pick<RouteSpec, 'path' | 'wildcard'>): string {
  return route.path.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, `{${route.wildcard ?? 'path'}}`);
}

/** Component names of schemas declared without a `.meta({id})` (the live events and estimates). */
const COMPONENT_NAMES: [z.ZodType, string][] = [
  [jobEvents.JobStateEventData, 'JobStateEvent'],
  [jobEvents.JobStageEventData, 'JobStageEvent'],
  [jobEvents.JobTaskEventData, 'JobTaskEvent'],
  [jobEvents.JobLogEventData, 'JobLogEvent'],
  [jobEvents.JobGapEventData, 'JobGapEvent'],
  [jobEvents.JobTerminalEventData, 'JobTerminalEvent'],
  [jobEvents.JobCloseEventData, 'JobCloseEvent'],
  [jobEstimate.Estimate, 'Estimate'],
  [jobEstimate.EstimatePending, 'EstimatePending'],
];

/** Every schema of the wire modules that carries a component id (`.meta({id})`), and those above. */
function namedSchemas(): Map<string, z.ZodType> {
  const out = new Map<string, z.ZodType>(COMPONENT_NAMES.map(([schema, id]) => [id, schema]));
  for (const mod of [common, batchProcessing, dataStaging, registry, visionbatch]) {
    for (const v of Object.values(mod)) {
      if (!(v instanceof z.ZodType)) continue;
      const id = z.globalRegistry.get(v)?.id;
      if (typeof id === 'string') out.set(id, v);
    }
  }
  return out;
}

const ERROR_TEXT: Record<number, string> = {
  400: 'the request is not valid (the body names the field)',
  401: 'no or an unknown API key',
  403: "the key's workspace is not the one in the path, or a signed URL was refused",
  404: 'not found',
  409: 'conflicts with the current state',
  413: 'the body is larger than allowed',
  415: 'a body of a media type the route does not read',
  422: 'the sample job of the estimate did not succeed',
  501: 'not supported by visionbatch',
  503: 'a dependency (Redis) is unavailable; retry shortly',
};

/**
 * The OpenAPI 3.1 document of the api, generated from {@link ROUTES} and the zod schemas the
 * routes validate with. Response schemas are in zod's `output` mode: objects are closed
 * (`additionalProperties: false`), so an answer with an undocumented field breaks the contract.
 */
export function openApiDocument(opts: OpenApiOptions): Json {
  const reg = z.registry<{ id: string }>();
  for (const [id, schema] of namedSchemas()) reg.add(schema, { id });
  const idOf = (schema: z.ZodType, fallback: string): string => {
    const existing = reg.get(schema)?.id;
    if (existing) return existing;
    reg.add(schema, { id: fallback });
    return fallback;
  };
  const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
  const errorRef = ref(idOf(common.ErrorBody, 'Error'));

  const paths: Record<string, Record<string, Json>> = {};
  for (const r of ROUTES) {
    if (r.internal) continue;
    const parameters: Json[] = [];
    for (const m of openApiPath(r).matchAll(/\{([A-Za-z]+)\}/g)) {
      parameters.push({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
        ...(m[1] === r.wildcard
          ? { description: 'may contain `/` (`project/version`)', 'x-multi-segment': true }
          : {}),
      });
    }
    for (const [name, schema] of Object.entries(r.query?.shape ?? {})) {
      const s = schema as z.ZodType;
      const { $schema: _s, description, ...json } = z.toJSONSchema(s, { io: 'input' }) as Json;
      parameters.push({
        name,
        in: 'query',
        required: !s.safeParse(undefined).success,
        schema: json,
        ...(description ? { description } : {}),
      });
    }
    const responses: Record<string, Json> = {};
    for (const [status, answer] of Object.entries(r.ok)) {
      if (!answer) continue;
      if (isRaw(answer)) {
        const content =
          answer.raw === 'binary'
            ? {
                'application/octet-stream': {
                  schema: { type: 'string', contentMediaType: 'application/octet-stream' },
                },
              }
            : answer.raw === 'event-stream'
              ? { 'text/event-stream': { schema: { type: 'string' } } }
              : answer.raw === 'json'
                ? { 'application/json': { schema: { type: 'object' } } }
                : undefined;
        responses[status] = { description: answer.description, ...(content ? { content } : {}) };
      } else {
        const id = idOf(answer, `${r.operationId}Response`);
        responses[status] = { description: 'OK', content: { 'application/json': { schema: ref(id) } } };
      }
    }
    for (const status of r.errors)
      responses[String(status)] = {
        description: ERROR_TEXT[status] ?? 'error',
        content: { 'application/json': { schema: errorRef } },
      };
    let requestBody: Json | undefined;
    if (r.body && 'json' in r.body)
      requestBody = {
        required: true,
        content: { 'application/json': { schema: ref(idOf(r.body.json, `${r.operationId}Body`)) } },
      };
    else if (r.body && 'multipart' in r.body)
      requestBody = {
        required: true,
        content: { 'multipart/form-data': { schema: ref(idOf(r.body.multipart, `${r.operationId}Form`)) } },
      };
    else if (r.body && 'binary' in r.body)
      requestBody = {
        required: true,
        description: r.body.binary,
        content: {
          'application/octet-stream': {
            schema: { type: 'string', contentMediaType: 'application/octet-stream' },
          },
        },
      };
    const security = r.auth === 'api-key' ? [{ apiKeyQuery: [] }, { bearer: [] }] : [];
    const method = r.method.toLowerCase();
    paths[openApiPath(r)] ??= {};
    paths[openApiPath(r)][method] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      security,
      ...(parameters.length ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }

  const generated = z.toJSONSchema(reg, {
    uri: (id) => `#/components/schemas/${id}`,
    io: 'output',
    unrepresentable: 'any',
  });
  const schemas: Record<string, Json> = {};
  for (const [id, s] of Object.entries(generated.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s as Json;
    schemas[id] = rest;
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'visionbatch',
      version: opts.version,
      description:
        "Self-hosted, Roboflow-compatible batch processing. The Data Staging and Batch Processing routes are wire-compatible with Roboflow's; the registries, signed URLs, events, estimates and machines are visionbatch's.",
    },
    servers: [{ url: opts.serverUrl }],
    tags: ['Data Staging', 'Batch Processing', 'Registries', 'Signed URLs', 'visionbatch', 'Health'].map(
      (name) => ({ name }),
    ),
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKeyQuery: { type: 'apiKey', in: 'query', name: 'api_key' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
  };
}
