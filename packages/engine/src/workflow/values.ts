import { cropLineage, type Lineage, rootLineage } from '../detections.ts';
import { DecodedImage } from '../image-decode.ts';

/**
 * Runtime values that are not plain JSON: images with their identity (`WorkflowImageData` in the
 * reference) and video metadata.
 */

/** Video metadata of a frame (spec §1.3); still images get a synthetic one. */
export interface VideoMetadata {
  video_identifier: string;
  frame_number: number;
  frame_timestamp: Date;
  fps: number | null;
  measured_fps?: number | null;
  comes_from_video_file: boolean | null;
}

/** An image flowing through a workflow: pixels (or bytes) plus lineage. */
export class WorkflowImage {
  constructor(
    readonly image: DecodedImage,
    readonly lineage: Lineage,
    readonly videoMetadata: VideoMetadata | null = null,
  ) {}

  /** A workflow input image; its parent id is the input name (`"image"`). */
  static input(
    image: DecodedImage,
    inputName: string,
    videoMetadata: VideoMetadata | null = null,
  ): WorkflowImage {
    return new WorkflowImage(image, rootLineage(inputName, image.width, image.height), videoMetadata);
  }

  get width(): number {
    return this.image.width;
  }

  get height(): number {
    return this.image.height;
  }

  /**
   * A crop of [x1, x2) × [y1, y2) (integers inside the image) made from detection `detectionId`.
   */
  async crop(x1: number, y1: number, x2: number, y2: number, detectionId: string): Promise<WorkflowImage> {
    const src = await this.image.rgb();
    const w = x2 - x1;
    const h = y2 - y1;
    const data = Buffer.allocUnsafe(w * h * 3);
    for (let y = 0; y < h; y++) {
      const s = ((y1 + y) * src.width + x1) * 3;
      src.data.copy(data, y * w * 3, s, s + w * 3);
    }
    return new WorkflowImage(
      DecodedImage.fromPixels({ data, width: w, height: h }),
      cropLineage(this.lineage, detectionId, x1, y1, this.width, this.height),
      this.videoMetadata,
    );
  }

  /** Real video metadata, or the synthetic one of a still image (§1.3). */
  metadataOrSynthetic(): VideoMetadata {
    return (
      this.videoMetadata ?? {
        video_identifier: this.lineage.parent.id,
        frame_number: 0,
        frame_timestamp: new Date(),
        fps: 30,
        comes_from_video_file: null,
      }
    );
  }
}
