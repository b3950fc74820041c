import { z } from 'zod';
import { IsoTimestamp, NextPageToken } from './common.ts';

/** Roboflow-compatible Data Staging wire shapes (spec/batch-api.md §2.1). */

export const BatchTypeV1 = z.enum(['simple-batch', 'sharded-batch', 'multipart-batch']);
export type BatchType = z.infer<typeof BatchTypeV1>;
export const ContentTypeV1 = z.enum(['images', 'videos', 'metadata', 'archives', 'mixed']);
export type ContentType = z.infer<typeof ContentTypeV1>;

export const BatchMetadataV1 = z
  .object({
    batchId: z.string(),
    displayName: z.string(),
    batchType: BatchTypeV1,
    batchContentType: ContentTypeV1,
    createdDate: IsoTimestamp,
    expiryDate: IsoTimestamp,
  })
  .meta({ id: 'BatchMetadata' });
export type BatchMetadata = z.infer<typeof BatchMetadataV1>;

export const FileMetadataV1 = z
  .object({
    /** a signed download URL (no api_key needed) */
    downloadURL: z.string(),
    fileName: z.string(),
    partName: z.string().optional(),
    shardId: z.string().optional(),
    contentType: z.string(),
    nestedContentType: z.string().optional(),
  })
  .meta({ id: 'FileMetadata' });
export type FileMetadata = z.infer<typeof FileMetadataV1>;

export const MultipartBatchPartMetadataV1 = z
  .object({
    partName: z.string(),
    partType: z.enum(['simple-batch', 'sharded-batch']),
    contentType: ContentTypeV1,
    partDescription: z.string().optional(),
    nestedContentType: z.string().optional(),
  })
  .meta({ id: 'MultipartBatchPartMetadata' });
export type MultipartBatchPartMetadata = z.infer<typeof MultipartBatchPartMetadataV1>;

export const ShardDetailsV1 = z
  .object({
    shardId: z.string(),
    statusName: z.string(),
    statusType: z.string(),
    eventTimestamp: IsoTimestamp,
    shardObjectsCount: z.number().int(),
    /** ingest facts: tar size, ingest id, error type and message of a failed shard */
    statusMetadata: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'ShardDetails' });
export type ShardDetails = z.infer<typeof ShardDetailsV1>;

export const SignedURLDetailsV1 = z
  .object({ uploadURL: z.string(), extensionHeaders: z.record(z.string(), z.string()) })
  .meta({ id: 'SignedURLDetails' });
export type SignedURLDetails = z.infer<typeof SignedURLDetailsV1>;

export const ListBatchesResponse = z.object({
  batches: z.array(BatchMetadataV1),
  nextPageToken: NextPageToken,
});
export const GetBatchResponse = z.object({ batch: BatchMetadataV1 });
export const CountResponse = z.object({ count: z.number().int() });
export const ListPartsResponse = z.object({ batchParts: z.array(MultipartBatchPartMetadataV1) });
export const ListFilesResponse = z.object({
  filesMetadata: z.array(FileMetadataV1),
  nextPageToken: NextPageToken,
});
export const ListShardsResponse = z.object({ shards: z.array(ShardDetailsV1), nextPageToken: NextPageToken });
export const SignedUploadResponse = z.object({ signedURLDetails: SignedURLDetailsV1 });
export const ReferenceIngestResponse = z.object({
  ingestId: z.string(),
  shardIds: z.array(z.string()).optional(),
  duplicated: z.boolean(),
});

/** Body of a reference ingest (§2.11, §2.12): exactly one of the inline list and the JSONL URL. */
export const FileReferenceV1 = z.object({ name: z.string(), url: z.string() }).meta({ id: 'FileReference' });
export const ImageReferencesIngest = z.object({
  imageReferences: z.array(FileReferenceV1).optional(),
  imageReferencesURL: z.string().optional(),
  ingestId: z.string().optional(),
  notificationsURL: z.string().optional(),
  notificationCategories: z.array(z.enum(['ingest-status', 'files-status'])).optional(),
});
export const VideoReferencesIngest = z.object({
  videoReferences: z.array(FileReferenceV1).optional(),
  videoReferencesURL: z.string().optional(),
  ingestId: z.string().optional(),
  notificationsURL: z.string().optional(),
  notificationCategories: z.array(z.enum(['ingest-status', 'files-status'])).optional(),
});

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
