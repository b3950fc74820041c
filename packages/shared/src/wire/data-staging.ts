/** Roboflow-compatible Data Staging wire shapes (spec/batch-api.md §2.1). */

export type BatchType = 'simple-batch' | 'sharded-batch' | 'multipart-batch';
export type ContentType = 'images' | 'videos' | 'metadata' | 'archives' | 'mixed';

export interface BatchMetadata {
  batchId: string;
  displayName: string;
  batchType: BatchType;
  batchContentType: ContentType;
  createdDate: string;
  expiryDate: string;
}

export interface FileMetadata {
  downloadURL: string;
  fileName: string;
  partName?: string;
  shardId?: string;
  contentType: string;
  nestedContentType?: string;
}

export interface MultipartBatchPartMetadata {
  partName: string;
  partType: 'simple-batch' | 'sharded-batch';
  contentType: ContentType;
  partDescription?: string;
  nestedContentType?: string;
}

export interface ShardDetails {
  shardId: string;
  statusName: string;
  statusType: string;
  eventTimestamp: string;
  shardObjectsCount: number;
  statusMetadata?: Record<string, unknown>;
}

export interface SignedURLDetails {
  uploadURL: string;
  extensionHeaders: Record<string, string>;
}

/** Lower-case file extensions the Roboflow CLI picks up as images (spec §5.2). */
export const IMAGE_EXTENSIONS = ['bmp', 'dib', 'jpeg', 'jpg', 'jpe', 'jp2', 'png', 'webp', 'tif', 'tiff'];
/** … and as videos. */
export const VIDEO_EXTENSIONS = [
  'mp4',
  'm4a',
  'm4p',
  'm4b',
  'm4r',
  'm4v',
  'avi',
  'mov',
  'mkv',
  'flv',
  'wmv',
  'mpeg',
  'mpg',
  '3gp',
  'webm',
  'ogg',
];
