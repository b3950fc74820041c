import { Errors } from '@visionbatch/shared/errors';
import type { FastifyInstance } from 'fastify';
import { buildConsoleBundle, type ConsoleBundle } from '../console-bundle.ts';
import type { ApiDeps } from '../deps.ts';
import { type Asset, sendAsset } from '../static-assets.ts';

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The page that loads the console; the mount prefix tells the console where the api is. */
function indexPage(bundle: ConsoleBundle, mountPrefix: string): Asset {
  const base = escapeAttr(mountPrefix);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="vb-api-base" content="${base}">
<title>visionbatch console</title>
<link rel="icon" href="data:,">
${bundle.style ? `<link rel="stylesheet" href="${base}/console/assets/${bundle.style}">` : ''}
<script type="module" src="${base}/console/assets/${bundle.script}"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
  return { body: Buffer.from(html), type: 'text/html; charset=utf-8', immutable: false };
}

/**
 * The web console at `/console`: static assets only (public routes); every API call the console
 * makes carries the API key the user signed in with, like any other client.
 */
export function consoleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  let built: Promise<{ bundle: ConsoleBundle; index: Asset }> | null = null;
  const bundle = () => {
    built ??= buildConsoleBundle().then((b) => ({
      bundle: b,
      index: indexPage(b, deps.config.api.mountPrefix),
    }));
    // A failed build is retried on the next request rather than remembered.
    built.catch(() => {
      built = null;
    });
    return built;
  };
  app.get('/console', async (req, reply) => sendAsset(req, reply, (await bundle()).index));
  app.get<{ Params: { file: string } }>('/console/assets/:file', async (req, reply) => {
    const asset = (await bundle()).bundle.assets.get(req.params.file);
    if (!asset) throw Errors.notFound('file', req.params.file);
    return sendAsset(req, reply, asset);
  });
}
