import { describe, expect, it } from 'vitest';
import { parseBucketPath } from './cloud-storage.ts';

describe('parseBucketPath', () => {
  it('splits scheme, bucket and prefix', () => {
    expect(parseBucketPath('s3://photos/2024/june/')).toMatchObject({
      scheme: 's3',
      bucket: 'photos',
      prefix: '2024/june/',
      matches: null,
    });
    expect(parseBucketPath('gs://b')).toMatchObject({ scheme: 'gs', bucket: 'b', prefix: '' });
  });

  it('lists from the folder before a glob and matches whole keys', () => {
    const p = parseBucketPath('s3://b/cams/*/day-*.jpg');
    expect(p.prefix).toBe('cams/');
    expect(p.matches?.('cams/north/day-1.jpg')).toBe(true);
    expect(p.matches?.('cams/north/night-1.jpg')).toBe(false);
    expect(p.matches?.('cams/north/deeper/day-1.jpg')).toBe(false);
  });

  it('refuses other schemes', () => {
    expect(() => parseBucketPath('az://container/x')).toThrow(/az:\/\/ is not supported/);
    expect(() => parseBucketPath('/local/dir')).toThrow(/must look like s3:\/\/bucket\/prefix/);
  });
});
