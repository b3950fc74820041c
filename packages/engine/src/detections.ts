/**
 * The internal detections structure every detection-like block passes around (the reference's
 * `sv.Detections`, spec §2.0), image identity metadata, and the §3.2 serialisation.
 */

/** Where an image sits in its parent (or root) image: offsets and the parent's size. */
export interface Origin {
  /** id of that parent: the input name (`"image"`) or a crop's source detection id */
  id: string;
  offsetX: number;
  offsetY: number;
  /** parent image width */
  width: number;
  /** parent image height */
  height: number;
}

/** Identity of an image in a workflow run: its direct parent and the workflow's input image. */
export interface Lineage {
  parent: Origin;
  root: Origin;
}

/** Lineage of a workflow input image (parent = root = itself). */
export function rootLineage(id: string, width: number, height: number): Lineage {
  const o = { id, offsetX: 0, offsetY: 0, width, height };
  return { parent: o, root: { ...o } };
}

/** Lineage of a crop at (x, y) of an image with lineage `of` and size w×h, made from detection `detectionId`. */
export function cropLineage(
  of: Lineage,
  detectionId: string,
  x: number,
  y: number,
  w: number,
  h: number,
): Lineage {
  return {
    parent: { id: detectionId, offsetX: x, offsetY: y, width: w, height: h },
    root: { ...of.root, offsetX: of.root.offsetX + x, offsetY: of.root.offsetY + y },
  };
}

export interface Detection {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  confidence: number;
  classId: number;
  className: string;
  detectionId: string;
  /** the image the box lives on: `parent_id`, `parent_coordinates`, `parent_dimensions` */
  parent: Origin;
  /** the workflow input image: `root_parent_*` */
  root: Origin;
  predictionType: 'object-detection';
  trackerId?: number;
}

/** Detections on one image; `image` is that image's size (`image_dimensions`). */
export class Detections {
  constructor(
    readonly items: readonly Detection[],
    readonly image: { width: number; height: number },
  ) {}

  get length(): number {
    return this.items.length;
  }

  with(items: readonly Detection[]): Detections {
    return new Detections(items, this.image);
  }
}

/** Serialised origin: `{offset_x, offset_y, width, height}` with integers. */
function origin(o: Origin): Record<string, number> {
  return {
    offset_x: Math.round(o.offsetX),
    offset_y: Math.round(o.offsetY),
    width: Math.round(o.width),
    height: Math.round(o.height),
  };
}

/**
 * §3.2 serialisation. Keys in the reference's order; `parent_origin`, `root_parent_id`,
 * `root_parent_origin` only when the detection stays in a crop's frame. Unlike the reference,
 * `image` is the real size even with zero detections (deliberate, spec §3.2 [I]).
 */
export function serialiseDetections(d: Detections): Record<string, unknown> {
  const predictions = d.items.map((p) => {
    const width = Math.abs(p.x2 - p.x1);
    const height = Math.abs(p.y2 - p.y1);
    const out: Record<string, unknown> = {
      width,
      height,
      x: p.x1 + width / 2,
      y: p.y1 + height / 2,
      confidence: p.confidence,
      class_id: p.classId,
    };
    if (p.trackerId !== undefined) out.tracker_id = p.trackerId;
    out.class = p.className;
    out.detection_id = p.detectionId;
    out.parent_id = p.parent.id;
    if (p.parent.id !== p.root.id) {
      out.parent_origin = origin(p.parent);
      out.root_parent_id = p.root.id;
      out.root_parent_origin = origin(p.root);
    }
    return out;
  });
  return { image: { width: d.image.width, height: d.image.height }, predictions };
}

/**
 * Moves detections into the coordinates of the workflow's input image (`coordinates_system:
 * "parent"`, §3.6): boxes shifted by the root offset, parent and root become the input image.
 */
export function toRootCoordinates(d: Detections): Detections {
  // with no detections there is no root metadata: the size stays that of the image they are on
  if (d.items.length === 0) return d;
  const first = d.items[0].root;
  const image = { width: first.width, height: first.height };
  const items = d.items.map((p) => {
    const root: Origin = {
      id: p.root.id,
      offsetX: 0,
      offsetY: 0,
      width: p.root.width,
      height: p.root.height,
    };
    const dx = p.root.offsetX;
    const dy = p.root.offsetY;
    return {
      ...p,
      x1: p.x1 + dx,
      y1: p.y1 + dy,
      x2: p.x2 + dx,
      y2: p.y2 + dy,
      parent: root,
      root: { ...root },
    };
  });
  return new Detections(items, image);
}
