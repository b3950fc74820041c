/** Above this many images in a directory the CLI uploads tar shards (Roboflow's `MIN_IMAGES_TO_FORM_SHARD`). */
export const MIN_IMAGES_TO_FORM_SHARD = 32;
/** Images per tar shard (Roboflow's client `MAX_SHARD_SIZE`; the server accepts up to 500). */
export const MAX_SHARD_SIZE = 256;

/** How a directory of images is uploaded. */
export type ImageUploadPlan =
  | { mode: 'single'; total: number; skipped: number; files: string[] }
  | { mode: 'shards'; total: number; skipped: number; shards: string[][] };

/**
 * Chooses single uploads (≤ 32 images) or tar shards of ≤ `maxShardSize` images (> 32), as the
 * Roboflow client does: the choice counts every image in the directory, including those the resume
 * log marks as uploaded, which are then left out.
 */
export function planImageUpload(
  files: readonly string[],
  alreadyUploaded: ReadonlySet<string>,
  maxShardSize = MAX_SHARD_SIZE,
): ImageUploadPlan {
  if (maxShardSize < 1) throw new RangeError('maxShardSize must be >= 1');
  const todo = files.filter((f) => !alreadyUploaded.has(f));
  const skipped = files.length - todo.length;
  if (files.length <= MIN_IMAGES_TO_FORM_SHARD)
    return { mode: 'single', total: files.length, skipped, files: todo };
  const shards: string[][] = [];
  for (let i = 0; i < todo.length; i += maxShardSize) shards.push(todo.slice(i, i + maxShardSize));
  return { mode: 'shards', total: files.length, skipped, shards };
}
