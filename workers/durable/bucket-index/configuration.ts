// Bucket-level configuration: one JSON document per name in `bucket_config`, owned by this single writer. The
// names and document shapes are those every earlier release stored, so an old index reads as it did.

import type { BucketAcl } from "../../../src/s3/bucket-access.ts";
import type { StoredAcl } from "../../../src/s3/access/acl.ts";
import type { ObjectOwnership, PublicAccessBlock } from "../../../src/s3/access/bucket-controls.ts";
import type { CorsRule } from "../../../src/s3/cors.ts";
import type { BucketObjectLock } from "../../../src/s3/object-lock.ts";
import type { BucketEncryptionDefault } from "../../../src/s3/encryption.ts";
import type { TagSet } from "../../../src/s3/tagging.ts";
import type { LifecycleRule } from "../../../src/services/lifecycle.ts";
import type { VersioningState } from "../../../src/services/object-model.ts";
import type { IndexStore } from "./store.ts";

/** Each configuration document a bucket can carry, by the name it is stored under. Absent means S3's default. */
export interface BucketConfig {
  /** PutBucketVersioning; absent: never versioned. */
  versioning: Exclude<VersioningState, "Unversioned">;
  /** The ACL (x-amz-acl, x-amz-grant-*, PutBucketAcl): a canned name as older releases stored it, or grants; absent: private. */
  acl: BucketAcl | StoredAcl;
  /** PutBucketOwnershipControls, CreateBucket x-amz-object-ownership; absent: ACLs work as before ownership controls. */
  ownershipControls: ObjectOwnership;
  /** PutPublicAccessBlock; absent: nothing blocked. */
  publicAccessBlock: PublicAccessBlock;
  /** PutBucketTagging. */
  tagging: TagSet;
  /** PutBucketCors. */
  cors: CorsRule[];
  /** PutBucketLifecycleConfiguration. */
  lifecycle: LifecycleRule[];
  /** PutBucketEncryption; absent: SSE-S3. */
  encryption: BucketEncryptionDefault;
  /** PutBucketPolicy: the policy text as put (src/s3/access/policy-document.ts parses it); absent: no policy. */
  policy: string;
  /** CreateBucket with Object Lock, PutObjectLockConfiguration; absent: no Object Lock. Never removed once set. */
  objectLock: BucketObjectLock;
}

export type BucketConfigName = keyof BucketConfig;

export function getConfig<N extends BucketConfigName>(store: IndexStore, name: N): BucketConfig[N] | null {
  const row = store.sql.exec<{ value: string }>("SELECT value FROM bucket_config WHERE name = ?", name).toArray()[0];
  return row ? (JSON.parse(row.value) as BucketConfig[N]) : null;
}

export function setConfig<N extends BucketConfigName>(store: IndexStore, name: N, value: BucketConfig[N]): void {
  store.sql.exec("INSERT OR REPLACE INTO bucket_config (name, value) VALUES (?, ?)", name, JSON.stringify(value));
}

export function deleteConfig(store: IndexStore, name: BucketConfigName): void {
  store.sql.exec("DELETE FROM bucket_config WHERE name = ?", name);
}

export function versioningOf(store: IndexStore): VersioningState {
  return getConfig(store, "versioning") ?? "Unversioned";
}
