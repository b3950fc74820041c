import { createHash } from 'node:crypto';
import type { ImageOutput } from '@visionbatch/engine/workflow/executor';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { MAX_SEGMENT_BYTES } from '@visionbatch/shared/object-store/object-key';
import { IMAGES_PART, type JobContext, type OutputFile } from '@visionbatch/shared/tasks';

/**
 * Persisted image outputs (spec/workflows.md §3.8–3.9, batch-api.md §5.6). With the job's
 * `persistImagesOutputs`, every image output of every item (only those named in
 * `imagesOutputsToBePersisted`, when that list is given and not empty) is encoded as a JPEG
 * (quality 95, like the reference's image serialisation, §3.5) and written into part
 * {@link IMAGES_PART} of the task's output batch.
 *
 * Key paths follow the inference CLI: `<image file name>/<key path>.jpg`, the key path being the
 * output name then dict keys / list indices (`annotated.jpg`, `crops/0.jpg`). Video frames add
 * the 1-based source frame number (6 digits or more): `<video>/<frame>/<key path>.jpg`. Batch
 * file names must be plain names, so the stored name is the key path with `%` written `%25` and
 * `/` written `%2F` ({@link persistedImageName}); export archives name their members by the
 * decoded path ({@link keyPathOf}), so an exported job unpacks to the CLI's directory layout.
 * Names are deterministic: a retried task overwrites the same objects.
 */

/** JPEG uploads in flight per task (the pixels are encoded before the next item runs). */
const MAX_IN_FLIGHT = 8;

/** One path segment made safe for a relative archive path (no separators, no `.`/`..`). */
function segment(s: string | number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we replace
  const v = String(s).replace(/[/\\\u0000-\u001f]/g, '_');
  return v === '' || v === '.' || v === '..' ? '_' : v;
}

/** The relative path (`a.jpg/annotated.jpg`) of an image output of item `file` (frame `frame` of a video). */
export function persistedImagePath(
  file: string,
  path: ReadonlyArray<string | number>,
  frame?: number,
): string {
  const parts = [file, ...(frame === undefined ? [] : [String(frame).padStart(6, '0')]), ...path];
  return `${parts.map(segment).join('/')}.jpg`;
}

/**
 * The stored (flat) file name of a key path: `%` → `%25`, `/` → `%2F`. A name longer than an
 * object-key segment may be (200 bytes) becomes `<sha256 of the key path>.jpg`.
 */
export function persistedImageName(keyPath: string): string {
  const flat = keyPath.replace(/%/g, '%25').replace(/\//g, '%2F');
  if (Buffer.byteLength(flat) <= MAX_SEGMENT_BYTES && isSafeFileName(flat)) return flat;
  return `${createHash('sha256').update(keyPath).digest('hex')}.jpg`;
}

/** The archive member path of a stored persisted-image name (inverse of {@link persistedImageName}). */
export function keyPathOf(name: string): string {
  const path = name.replace(/%(25|2F)/gi, (m) => (m.toUpperCase() === '%25' ? '%' : '/'));
  // stored names come from persistedImageName; still, never let a member leave the archive root
  return path.split('/').map(segment).join('/');
}

/** Whether output `name` is persisted under the job's settings. */
export function persistsOutput(context: JobContext, name: string): boolean {
  if (!context.persistImagesOutputs) return false;
  const only = context.imagesOutputsToBePersisted;
  return !only || only.length === 0 || only.includes(name);
}

/**
 * Encodes one image output as a JPEG (quality 95), upright RGB. Chroma is kept at full
 * resolution (4:4:4): annotations are thin coloured lines that 4:2:0 would smear into their
 * neighbours.
 */
async function encodeJpeg(out: ImageOutput): Promise<Buffer> {
  const p = await out.image.image.pipeline();
  return p.removeAlpha().toColourspace('srgb').jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
}

/**
 * Writes the persisted image outputs of one task's items. {@link add} encodes before it returns
 * (frame buffers may be reused afterwards) and uploads in the background, a few at a time;
 * {@link finish} waits for every upload and returns the files to list in the output batch.
 * `add` throws only when an image cannot be encoded (that item fails); a store failure surfaces
 * from `finish`, failing the task so that it is retried.
 */
export class ImageOutputWriter {
  private readonly written = new Map<string, OutputFile>();
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(
    private readonly store: ObjectStore,
    private readonly context: JobContext,
    /** the task's output batch */
    private readonly batchId: string,
  ) {}

  /** Persists the selected image outputs of item `file` (frame `frame` of a video); no-op when the job persists none. */
  async add(file: string, images: readonly ImageOutput[], frame?: number): Promise<void> {
    if (!this.context.persistImagesOutputs) return;
    for (const out of images) {
      if (!persistsOutput(this.context, String(out.path[0]))) continue;
      const fileName = persistedImageName(persistedImagePath(file, out.path, frame));
      const body = await encodeJpeg(out);
      while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
      // after a store failure the task fails in finish() and is retried whole: stop uploading
      if (this.failure !== null) return;
      const key = objectKeys.batchFile(this.context.workspace, this.batchId, IMAGES_PART, fileName);
      const p = this.store
        .put(key, body, { contentType: 'image/jpeg', size: body.length })
        .then(
          () => {
            this.written.set(fileName, {
              part: IMAGES_PART,
              fileName,
              size: body.length,
              contentType: 'images',
            });
          },
          (err: unknown) => {
            this.failure ??= err;
          },
        )
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** Waits for every upload. @throws the first store error */
  async finish(): Promise<OutputFile[]> {
    await Promise.all(this.inFlight);
    if (this.failure !== null) throw this.failure;
    return [...this.written.values()];
  }
}
