import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { CliError } from './cli-error.ts';

/** The answer of the upload-URL endpoints (spec §2.1 SignedURLDetails). */
export interface SignedUrlResponse {
  signedURLDetails?: { uploadURL?: unknown; extensionHeaders?: unknown };
}

/** Validates a `{"signedURLDetails": ...}` answer and returns its URL and headers. */
export function signedUrlOf(body: SignedUrlResponse): {
  uploadURL: string;
  extensionHeaders: Record<string, string>;
} {
  const d = body?.signedURLDetails;
  if (!d || typeof d.uploadURL !== 'string' || !d.uploadURL) {
    throw new CliError('could not decode the API response: no signedURLDetails.uploadURL');
  }
  const headers: Record<string, string> = {};
  if (d.extensionHeaders && typeof d.extensionHeaders === 'object') {
    for (const [k, v] of Object.entries(d.extensionHeaders as Record<string, unknown>))
      headers[k] = String(v);
  }
  return { uploadURL: d.uploadURL, extensionHeaders: headers };
}

/**
 * PUTs a file to a signed URL, streaming it with an explicit `Content-Length` (GB-scale videos
 * must not be buffered; S3-style URLs refuse chunked bodies). Like Roboflow's client: only the
 * extension headers are sent, no timeout, no retry; any status ≥ 400 fails.
 */
export async function putFileToSignedUrl(
  uploadURL: string,
  filePath: string,
  extensionHeaders: Record<string, string>,
): Promise<void> {
  const { size } = await stat(filePath);
  const url = new URL(uploadURL);
  const mod = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
  if (!mod) throw new CliError(`unsupported upload URL scheme ${url.protocol}`);
  await new Promise<void>((resolve, reject) => {
    const req = mod.request(
      url,
      { method: 'PUT', headers: { ...extensionHeaders, 'content-length': String(size) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (chunks.length < 64) chunks.push(c);
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const text = Buffer.concat(chunks).toString('utf8');
            let detail = text.slice(0, 300);
            try {
              const j = JSON.parse(text) as { error?: unknown };
              if (j && typeof j.error === 'string') detail = j.error;
            } catch {}
            reject(
              new CliError(`upload to signed URL failed with HTTP ${status}${detail ? `: ${detail}` : ''}`),
            );
          } else resolve();
        });
        res.on('error', reject);
      },
    );
    req.on('error', (e) => reject(new CliError(`upload to signed URL failed: ${e.message}`, { cause: e })));
    const src = createReadStream(filePath);
    src.on('error', (e) => {
      req.destroy(e);
      reject(e);
    });
    src.pipe(req);
  });
}
