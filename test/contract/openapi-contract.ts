/**
 * The contract check: answers of the api held against `/openapi.json` (generated from the route
 * table). An answer fails when its path and method are not documented, its status code is not,
 * or its JSON body does not match the documented schema; response schemas are closed, so a field
 * the document does not name fails too. The e2e helpers (test/e2e/stack.ts `call`, the CLI's
 * ApiClient built by e2e-support's `client`) run every answer through {@link checkAnswer}; each
 * test file then fails in its `afterAll` with the list of violations.
 */
import { openApiDocument } from '@visionbatch/shared/wire/openapi';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, expect } from 'vitest';

type Json = Record<string, any>;

interface Operation {
  regex: RegExp;
  params: number;
  methods: Record<string, Json>;
  path: string;
}

const DOC_ID = 'https://visionbatch.invalid/openapi.json';

/** The document with a compiled matcher per path (built once per test file). */
class Contract {
  readonly doc: Json = openApiDocument({ version: 'contract', serverUrl: 'http://127.0.0.1' });
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly ops: Operation[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor() {
    addFormats.default(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema({ $id: DOC_ID, components: this.doc.components });
    this.ops = Object.entries(this.doc.paths as Record<string, Json>)
      .map(([path, methods]) => {
        const multi = new Set<string>(
          Object.values(methods).flatMap((op: Json) =>
            (op.parameters ?? [])
              .filter((p: Json) => p.in === 'path' && p['x-multi-segment'] === true)
              .map((p: Json) => p.name),
          ),
        );
        const source = path
          .split(/(\{[A-Za-z]+\})/)
          .map((part) => {
            const m = /^\{([A-Za-z]+)\}$/.exec(part);
            if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            return multi.has(m[1]) ? '.+' : '[^/]+';
          })
          .join('');
        return {
          path,
          methods,
          regex: new RegExp(`^${source}/?$`),
          params: (path.match(/\{/g) ?? []).length,
        };
      })
      // A literal segment wins over a parameter (`/jobs/estimate` before `/jobs/{jobId}`).
      .sort((a, b) => a.params - b.params);
  }

  /** A violation's description, or null when the answer keeps the contract. */
  check(
    method: string,
    path: string,
    status: number,
    body: unknown,
    contentType: string | null,
  ): string | null {
    const m = method.toUpperCase();
    const at = `${m} ${path} → ${status}`;
    const candidates = this.ops.filter((o) => o.regex.test(path));
    if (candidates.length === 0) return `${at}: the path is not documented`;
    const op = candidates.find((o) => o.methods[m.toLowerCase()]);
    if (!op) return `${at}: ${m} is not documented for ${candidates[0].path}`;
    const response = op.methods[m.toLowerCase()].responses?.[String(status)];
    if (!response) return `${at}: status ${status} is not documented for ${m} ${op.path}`;
    const schema = response.content?.['application/json']?.schema;
    if (!schema?.$ref || m === 'HEAD') return null;
    if (!contentType?.includes('application/json')) return `${at}: expected JSON, got ${contentType}`;
    const ref = `${DOC_ID}${schema.$ref}`;
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.validators.set(ref, validate);
    }
    if (validate(body)) return null;
    const errors = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) =>
        e.keyword === 'additionalProperties'
          ? `${e.instancePath || '/'} has the undocumented field "${e.params.additionalProperty}"`
          : `${e.instancePath || '/'} ${e.message}`,
      );
    return `${at}: the body does not match ${schema.$ref}: ${errors.join('; ')}`;
  }
}

let contract: Contract | null = null;
const violations: string[] = [];

/** Checks one answer against the document; returns the violation (also kept for {@link failOnViolations}). */
export function checkAnswer(
  method: string,
  path: string,
  status: number,
  body: unknown,
  contentType: string | null,
): string | null {
  contract ??= new Contract();
  const v = contract.check(method, path, status, body, contentType);
  if (v) violations.push(v);
  return v;
}

/** `fetch` that checks every answer it gets from `apiUrl` (the body is read from a clone). */
export function contractFetch(apiUrl: string, inner: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.origin === new URL(apiUrl).origin) {
      const type = res.headers.get('content-type');
      let body: unknown = null;
      if (type?.includes('application/json'))
        body = await res
          .clone()
          .json()
          .catch(() => null);
      checkAnswer(init?.method ?? 'GET', url.pathname, res.status, body, type);
    }
    return res;
  };
}

/**
 * Registers an `afterAll` that fails the calling test file when any answer broke the contract.
 * Called once by the e2e helpers' module, so every file using them is checked.
 */
export function failOnViolations(): void {
  afterAll(() => {
    const found = violations.splice(0);
    expect(found, 'answers that break /openapi.json').toEqual([]);
  });
}
