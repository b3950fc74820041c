import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { DecodedImage } from '../image-decode.ts';
import { type PreprocessSpec, planGeometry, preprocessScaled } from '../preprocess.ts';
import { Kind } from '../workflow/block.ts';
import type { CompiledWorkflow, FieldValue } from '../workflow/compiler.ts';
import type { Frame, FrameLayout, VideoInfo } from './frame-source.ts';

/**
 * Video frames decoded straight at model size. When the only reader of a video's pixels is one
 * model pre-processing (the model steps taking the input image as `images` all have the same input
 * size, resize mode and padding; any other step naming the input neither reads pixels nor outputs
 * an image, as trackers reading the video metadata; and no output returns the input image), ffmpeg
 * scales each frame to the resized size itself and the frame becomes that model's
 * prepared input, memoised on a {@link DecodedImage} of the source size that has no full-resolution
 * pixels. That halves the CPU a 1080p frame costs before inference: no full-size RGB conversion,
 * no 6 MB pipe transfer and copy per frame, no resize in sharp.
 */
export interface ModelSizeFrames {
  /** what to ask the FrameSource for */
  layout: FrameLayout;
  /**
   * The workflow image of a frame decoded with {@link layout}. Its tensor is reused two frames
   * later: finish running the workflow on a frame before asking for the frame after next.
   */
  image(frame: Frame): DecodedImage;
}

function mentionsInput(v: FieldValue, name: string): boolean {
  switch (v.kind) {
    case 'selector':
      return v.selector.kind === 'input' && v.selector.name === name;
    case 'map':
      return Object.values(v.entries).some((e) => mentionsInput(e, name));
    default:
      return false;
  }
}

/** The model record a step's `model_id` names (a literal, or a parameter with its job value). */
function modelOf(
  compiled: CompiledWorkflow,
  field: FieldValue | undefined,
  parameters: Readonly<Record<string, unknown>>,
): ModelRecord | undefined {
  let id: unknown;
  if (field?.kind === 'literal') id = field.value;
  else if (field?.kind === 'selector' && field.selector.kind === 'input') {
    const name = field.selector.name;
    id = parameters[name] ?? compiled.inputs.find((i) => i.name === name)?.defaultValue;
  }
  return typeof id === 'string' ? compiled.models[id] : undefined;
}

/**
 * The model-size plan for `inputName`'s frames, or null when something may need the frames' full
 * pixels (then frames come at source size, as before).
 */
export function planModelSizeFrames(
  compiled: CompiledWorkflow,
  inputName: string,
  parameters: Readonly<Record<string, unknown>>,
  info: Pick<VideoInfo, 'width' | 'height'>,
): ModelSizeFrames | null {
  if (compiled.pixelInputs.includes(inputName)) return null;
  if (compiled.outputs.some((o) => o.selector.kind === 'input')) return null;
  let spec: PreprocessSpec | null = null;
  for (const st of compiled.steps) {
    for (const [key, value] of Object.entries(st.fields)) {
      if (!mentionsInput(value, inputName)) continue;
      if (key !== 'images' || !st.block.modelTask || value.kind !== 'selector') {
        // Other readers may only look at the image's size and video metadata (trackers): blocks
        // that read pixels say so, and an image (or anything) they output could carry the frame.
        if (st.block.readsPixels) return null;
        const passesOn = st.block.outputs.some((o) =>
          o.kinds.some((k) => k === Kind.image || k === Kind.wildcard),
        );
        if (passesOn) return null;
        continue;
      }
      const record = modelOf(compiled, st.fields.model_id, parameters);
      if (!record) return null;
      const s: PreprocessSpec = {
        width: record.input.width,
        height: record.input.height,
        mode: record.resizeMode,
        paddingValue: record.paddingValue,
      };
      if (
        spec &&
        (spec.width !== s.width ||
          spec.height !== s.height ||
          spec.mode !== s.mode ||
          spec.paddingValue !== s.paddingValue)
      )
        return null;
      spec = s;
    }
  }
  if (!spec) return null;
  const g = planGeometry(info.width, info.height, spec);
  // only modes that shrink or stretch the whole frame (no crop: a negative offset) are done in ffmpeg
  if (g.offsetX < 0 || g.offsetY < 0) return null;
  const chosen = spec;
  // The frames of a task run one after another, and a frame's tensor is dead once its workflow run
  // returned: two tensors, used in turn, spare allocating (and collecting) 4.9 MB per frame.
  const tensors: Float32Array[] = [];
  let turn = 0;
  return {
    layout: {
      width: g.resizeWidth,
      height: g.resizeHeight,
      resizeWidth: g.resizeWidth,
      resizeHeight: g.resizeHeight,
      offsetX: 0,
      offsetY: 0,
      padValue: g.padValue,
    },
    image(frame) {
      const image = DecodedImage.withoutPixels(info.width, info.height);
      const slot = turn++ % 2;
      tensors[slot] = preprocessScaled(image, chosen, frame.rgb, tensors[slot]).tensor;
      return image;
    },
  };
}
