export { createObjectStore, type ObjectStoreConfig } from './create-object-store.ts';
export { FsObjectStore, type FsObjectStoreOptions } from './fs-object-store.ts';
export { InvalidObjectKeyError } from './invalid-object-key-error.ts';
export {
  assertValidKey,
  assertValidPrefix,
  compareKeys,
  MAX_KEY_BYTES,
  MAX_SEGMENT_BYTES,
} from './object-key.ts';
export { ObjectNotFoundError } from './object-not-found-error.ts';
export { ObjectSizeMismatchError } from './object-size-mismatch-error.ts';
export {
  type ByteRange,
  DEFAULT_CONTENT_TYPE,
  type ListOptions,
  type ListPage,
  MAX_LIST_PAGE_SIZE,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';
export { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.ts';
