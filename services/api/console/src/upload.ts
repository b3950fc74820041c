import { createTar } from 'nanotar';
import { ApiError, call, paths, sameOrigin } from './api.ts';

/** Images per tar shard (the CLI's MAX_SHARD_SIZE). */
const SHARD_SIZE = 256;

const IMAGE_EXT = /\.(bmp|dib|jpe?g|jpe|jp2|png|webp|tiff?)$/i;
const VIDEO_EXT = /\.(mp4|m4[abprv]|avi|mov|mkv|flv|wmv|mpe?g|3gp|webm|ogg)$/i;

/** Which files of a selection are images and videos. */
export function splitMedia(files: File[]): { images: File[]; videos: File[]; other: File[] } {
  return {
    images: files.filter((f) => IMAGE_EXT.test(f.name)),
    videos: files.filter((f) => VIDEO_EXT.test(f.name)),
    other: files.filter((f) => !IMAGE_EXT.test(f.name) && !VIDEO_EXT.test(f.name)),
  };
}

async function putSigned(
  uploadURL: string,
  body: Blob | Uint8Array,
  headers: Record<string, string>,
): Promise<void> {
  const res = await fetch(sameOrigin(uploadURL), { method: 'PUT', body: body as BodyInit, headers });
  if (res.status >= 400) {
    const b = (await res.json().catch(() => null)) as { error?: string; code?: string } | null;
    throw new ApiError(res.status, b?.code ?? null, `upload refused: ${b?.error ?? `HTTP ${res.status}`}`);
  }
}

type SignedAnswer = { signedURLDetails: { uploadURL: string; extensionHeaders: Record<string, string> } };

/**
 * Stages images the way the CLI does for a folder of images: packed into tar shards, each
 * registered with `bulk-upload/image-files` and PUT to the signed URL it answers; the scheduler
 * then indexes the shards (their statuses show on the batch page).
 */
export async function uploadImages(
  batchId: string,
  files: File[],
  onProgress: (done: number) => void,
): Promise<void> {
  let done = 0;
  for (let i = 0; i < files.length; i += SHARD_SIZE) {
    const chunk = files.slice(i, i + SHARD_SIZE);
    const tar = createTar(
      await Promise.all(
        chunk.map(async (f) => ({ name: f.name, data: new Uint8Array(await f.arrayBuffer()) })),
      ),
    );
    const r = await call<SignedAnswer>(
      'POST',
      `${paths.ds()}/batches/${encodeURIComponent(batchId)}/bulk-upload/image-files`,
      {
        query: { displayName: batchId },
      },
    );
    await putSigned(r.signedURLDetails.uploadURL, tar, r.signedURLDetails.extensionHeaders);
    done += chunk.length;
    onProgress(done);
  }
}

/** Stages videos as the CLI does: a signed PUT URL per video, then the file itself. */
export async function uploadVideos(
  batchId: string,
  files: File[],
  onProgress: (done: number) => void,
): Promise<void> {
  let done = 0;
  for (const f of files) {
    const r = await call<SignedAnswer>(
      'POST',
      `${paths.ds()}/batches/${encodeURIComponent(batchId)}/upload/video`,
      {
        query: { displayName: batchId, fileName: f.name },
      },
    );
    await putSigned(r.signedURLDetails.uploadURL, f, r.signedURLDetails.extensionHeaders);
    onProgress(++done);
  }
}
