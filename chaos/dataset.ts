/** The chaos run's inputs: the shapes-det model, generated images (some truncated on purpose) and videos. */
import { mkdir, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { generateImageDataset, generateVideo, type WrittenModel, writeModels } from '@visionbatch/models';

export interface ChaosData {
  model: WrittenModel;
  imagesDir: string;
  /** every staged image name */
  images: string[];
  /** the images truncated to a bare JPEG header: they must end up in the failure logs */
  corrupt: Set<string>;
  videosDir: string;
  /** staged video name → its frame count */
  videoFrames: Map<string, number>;
}

export async function generateChaosData(
  dir: string,
  o: { seed: number; images: number; corruptEvery: number; videos: number; videoSeconds: number },
): Promise<ChaosData> {
  const [model] = await writeModels(path.join(dir, 'models'), { names: ['shapes-det'] });
  const imagesDir = path.join(dir, 'images');
  // Small images: the faults, not the model, should be what the run spends its time on.
  const dataset = await generateImageDataset({
    dir: imagesDir,
    count: o.images,
    seed: o.seed + 7,
    pngEvery: 0,
    sizes: [
      [320, 240],
      [480, 360],
    ],
  });
  await rm(dataset.groundTruthPath);
  const corrupt = new Set<string>();
  if (o.corruptEvery > 0)
    for (let i = o.corruptEvery - 1; i < dataset.files.length; i += o.corruptEvery) {
      await truncate(path.join(imagesDir, dataset.files[i]), 600); // a JPEG header and nothing after it
      corrupt.add(dataset.files[i]);
    }
  const videosDir = path.join(dir, 'videos');
  await mkdir(videosDir, { recursive: true });
  const videoFrames = new Map<string, number>();
  for (let v = 0; v < o.videos; v++) {
    const name = `clip-${v}.mp4`;
    const r = await generateVideo({
      path: path.join(videosDir, name),
      seconds: o.videoSeconds,
      seed: o.seed + v,
    });
    await rm(r.groundTruthPath);
    videoFrames.set(name, r.groundTruth.frameCount);
  }
  return { model, imagesDir, images: dataset.files, corrupt, videosDir, videoFrames };
}
