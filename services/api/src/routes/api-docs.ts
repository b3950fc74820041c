import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Errors } from '@visionbatch/shared/errors';
import { openApiDocument } from '@visionbatch/shared/wire/openapi';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { type Asset, sendAsset } from '../static-assets.ts';

const require = createRequire(import.meta.url);
/** swagger-ui-dist's folder in node_modules: the renderer is served from there, never a CDN. */
const SWAGGER_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const SWAGGER_VERSION: string = require('swagger-ui-dist/package.json').version;

/** The files of swagger-ui-dist that /docs uses, with their media types. */
const SWAGGER_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const page = (base: string) =>
  Buffer.from(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>visionbatch API</title>
<link rel="stylesheet" href="${base}/docs/assets/${SWAGGER_VERSION}/swagger-ui.css">
<link rel="icon" href="${base}/docs/assets/${SWAGGER_VERSION}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-spec-url="${base}/openapi.json"></div>
<script src="${base}/docs/assets/${SWAGGER_VERSION}/swagger-ui-bundle.js"></script>
<script src="${base}/docs/assets/${SWAGGER_VERSION}/init.js"></script>
</body>
</html>
`);

/** Starts swagger-ui on the document (a file rather than an inline script, for the CSP). */
const INIT = Buffer.from(`const el = document.getElementById('swagger-ui');
window.ui = SwaggerUIBundle({ url: el.dataset.specUrl, domNode: el, deepLinking: true });
`);

/**
 * `/openapi.json`, the OpenAPI 3.1 document generated from the route table, and `/docs`, the
 * document rendered by swagger-ui from the local node_modules (offline; versioned asset paths so
 * they are cached for good).
 */
export function apiDocsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const base = deps.config.api.mountPrefix;
  let doc: Buffer | null = null;
  app.get('/openapi.json', async (_req, reply) => {
    doc ??= Buffer.from(
      JSON.stringify(openApiDocument({ version: '0.1.0', serverUrl: `${deps.config.api.publicUrl}${base}` })),
    );
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(doc);
  });
  const index: Asset = { body: page(base), type: 'text/html; charset=utf-8', immutable: false };
  app.get('/docs', async (req, reply) => sendAsset(req, reply, index));
  const cache = new Map<string, Asset>();
  app.get<{ Params: { version: string; file: string } }>(
    '/docs/assets/:version/:file',
    async (req, reply) => {
      const { version, file } = req.params;
      if (version !== SWAGGER_VERSION) throw Errors.notFound('file', `${version}/${file}`);
      let asset = cache.get(file);
      if (!asset) {
        if (file === 'init.js')
          asset = { body: INIT, type: 'text/javascript; charset=utf-8', immutable: false };
        else if (SWAGGER_FILES[file])
          asset = {
            body: await readFile(path.join(SWAGGER_DIR, file)),
            type: SWAGGER_FILES[file],
            immutable: true,
          };
        else throw Errors.notFound('file', file);
        cache.set(file, asset);
      }
      return sendAsset(req, reply, asset);
    },
  );
}
