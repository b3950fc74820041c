/**
 * Recognises image files by their first bytes, so a file named `.jpg` that is not an image is
 * refused at ingest instead of failing later in a job.
 */
export function sniffImageFormat(head: Uint8Array): string | null {
  const b = head;
  const at = (i: number, ...v: number[]) => v.every((x, j) => b[i + j] === x);
  if (b.length >= 3 && at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (b.length >= 8 && at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (b.length >= 12 && at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (b.length >= 2 && at(0, 0x42, 0x4d)) return 'bmp';
  if (b.length >= 4 && (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a))) return 'tiff';
  if (b.length >= 12 && at(0, 0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20)) return 'jp2';
  if (b.length >= 6 && at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  return null;
}
