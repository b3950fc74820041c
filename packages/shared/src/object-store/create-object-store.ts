import { FsObjectStore, type FsObjectStoreOptions } from './fs-object-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.ts';

/** Which driver to use, with its options. */
export type ObjectStoreConfig =
  | ({ driver: 'fs' } & FsObjectStoreOptions)
  | ({ driver: 's3' } & S3ObjectStoreOptions);

/**
 * Builds the configured store: `fs` creates its folder, `s3` its bucket, before this resolves.
 * @throws TypeError for an unknown driver or a malformed endpoint
 */
export async function createObjectStore(config: ObjectStoreConfig): Promise<ObjectStore> {
  switch (config.driver) {
    case 'fs': {
      const { driver: _, ...options } = config;
      return FsObjectStore.open(options);
    }
    case 's3': {
      const { driver: _, ...options } = config;
      return S3ObjectStore.open(options);
    }
    default:
      throw new TypeError(
        `Unknown object store driver: ${JSON.stringify((config as { driver: unknown }).driver)}`,
      );
  }
}
