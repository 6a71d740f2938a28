// What the edge records about a stored object. Shared by the S3 operations and the BucketIndex Durable Object.

import type { ReplicaMaskScheme } from "./replica-mask.ts";
import type { StoredAcl } from "../s3/access/acl.ts";
import { ciphertextLength } from "./crypto/stream-format.ts";
import { pieceBytes, type ErasureCode } from "../protocol/piece-layout.ts";

/**
 * One blob on one node: a full copy of a replicated segment, or one piece of an erasure-coded one (`piece` set;
 * every piece has its own blob id).
 */
export interface BlobReplica {
  nodeId: string;
  blobId: string;
  /** SHA-256 (hex) of the blob as stored on the node (what scrub and proofs of storage check). */
  sha256: string;
  /**
   * Hex Merkle root of the blob as stored on the node (src/protocol/merkle.ts, AUDIT_LEAF_BYTES leaves), computed by
   * the edge from what it sent: a piece's shards, or a masked replica's bytes.
   */
  merkleRoot?: string;
  /**
   * A replica stored masked for its node (src/services/replica-mask.ts): unique to it, with its own SHA-256 and
   * root. Absent on pieces and on replicas written before masking, which hold the sealed blob as it is.
   */
  mask?: ReplicaMaskScheme;
  /** Which piece of an erasure-coded segment: 0..k-1 data, k..k+m-1 parity. */
  piece?: number;
}

/**
 * How one segment's blob is encrypted (FORMAT.md). Absent only on segments written before edge encryption,
 * which are read as stored. Deleting the record that holds this destroys the only copy of the data key.
 */
export interface SegmentEncryption {
  /** The segment's data key, wrapped by the object's key-encryption key and bound to `blobId`. */
  wrappedKey: string;
  /** base64 of the blob's 7-byte STREAM nonce prefix (also in the blob's header). */
  noncePrefix: string;
  /** The blob id every replica of the segment is stored under: the data key's binding. */
  blobId: string;
}

/** A contiguous piece of an object's bytes: the whole object for a simple PUT, one part for multipart. */
export interface ObjectSegment {
  /** Plaintext bytes. */
  size: number;
  /** MD5 (hex) of the segment's plaintext: the part ETag for multipart. */
  md5: string;
  /**
   * Where the segment's bytes are: full copies (replicated), or one entry per stored piece when `erasure` is set.
   * Empty for an inline segment.
   */
  replicas: BlobReplica[];
  encryption?: SegmentEncryption;
  /**
   * Erasure-coded (src/protocol/piece-layout.ts): the code this segment uses, and the blob id of each of its k+m
   * pieces (index = piece) and its Merkle root (hex), including pieces not stored anywhere right now (repair
   * rebuilds them and proves the result against the root).
   */
  erasure?: ErasureCode & { pieceBlobIds: string[]; pieceRoots: string[] };
  /** An inline segment: its whole blob (base64), kept in the index instead of on nodes. */
  inline?: string;
  /** A multipart object's part: the additional checksum it arrived with (GetObjectAttributes lists it). */
  checksum?: { algorithm: string; value: string };
}

/** The bytes each of a segment's blobs occupies on its node: a piece, a full ciphertext copy, or a plaintext copy. */
export function blobSizeOf(segment: ObjectSegment): number {
  if (segment.inline !== undefined) return 0;
  if (segment.erasure) return pieceBytes(segment.erasure, segment.size);
  return segment.encryption ? ciphertextLength(segment.size) : segment.size;
}

/**
 * Which key wraps an object's data keys (https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html):
 * the bucket key (SSE-S3, the default), a KMS key of the bucket owner (SSE-KMS), or the customer's own key,
 * which the edge never stores (SSE-C: only its MD5, which S3 returns, and a keyed hash to recognise it).
 */
export type ObjectEncryption =
  | { mode: "AES256" }
  | { mode: "aws:kms"; kmsKeyId: string; kmsKeyArn: string; bucketKeyEnabled: boolean }
  | { mode: "SSE-C"; customerKeyMd5: string; customerKeyHmac: string };

/** HTTP representation headers S3 stores with the object and returns on GET/HEAD. */
export interface StoredHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
}

export interface ObjectRecord {
  key: string;
  size: number;
  /** ETag without quotes: MD5 hex, or md5-of-md5s with "-N" for multipart. */
  etag: string;
  /** Milliseconds since the epoch. */
  lastModified: number;
  headers: StoredHeaders;
  /** x-amz-meta-* values, keyed by lowercase name without the prefix. */
  userMetadata: Record<string, string>;
  storageClass: "STANDARD";
  segments: ObjectSegment[];
  /**
   * The additional checksum the client asked for (x-amz-checksum-*): of the whole object for a PUT, or S3's
   * composite "checksum of part checksums-N" for a multipart upload.
   */
  checksum?: { algorithm: string; value: string; type?: "FULL_OBJECT" | "COMPOSITE" };
  /** Object tags (x-amz-tagging, PutObjectTagging). */
  tags?: Record<string, string>;
  /** Set by the bucket index: a random id in a versioning-enabled bucket, otherwise "null". */
  versionId?: string;
  /** Absent only on objects written before edge encryption. */
  encryption?: ObjectEncryption;
  /** Object Lock on this version (src/s3/object-lock.ts); absent when it has neither retention nor legal hold. */
  lock?: ObjectLock;
  /** The version's own ACL and owner (src/s3/access/acl.ts); absent: it follows its bucket, as before object ACLs. */
  acl?: ObjectAcl;
}

/** An object version's ACL and the account that owns the version (Object Ownership decides which). */
export interface ObjectAcl extends StoredAcl {
  owner: string;
}

/** S3 Object Lock retention modes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html). */
export type RetentionMode = "GOVERNANCE" | "COMPLIANCE";

/** A version's Object Lock: a retention (mode and date, milliseconds since the epoch) and/or a legal hold. */
export interface ObjectLock {
  mode?: RetentionMode;
  retainUntil?: number;
  legalHold?: boolean;
}

/**
 * Bucket versioning (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html). A bucket that was
 * never versioned keeps one "null" version per key; once enabled it can only be suspended, never unversioned.
 */
export type VersioningState = "Unversioned" | "Enabled" | "Suspended";

/** The version id S3 gives objects written while versioning is off or suspended. */
export const NULL_VERSION = "null";

/** A delete marker: the newest version of a key deleted in a versioned bucket. */
export interface DeleteMarker {
  key: string;
  versionId: string;
  lastModified: number;
  deleteMarker: true;
}

export type ObjectVersion = ObjectRecord | DeleteMarker;

export function isDeleteMarker(v: ObjectVersion): v is DeleteMarker {
  return "deleteMarker" in v;
}

export interface DeleteOutcome {
  /** The version that no longer exists and whose blobs must be freed (never a delete marker). */
  freed: ObjectRecord | null;
  /** Version id of what the delete created (a marker) or removed (with a version id given). */
  versionId?: string;
  /** True when a delete marker was created or removed. */
  deleteMarker: boolean;
  /** The version is protected by Object Lock: nothing was deleted (S3 answers AccessDenied). */
  locked?: true;
}

export interface ListVersionsQuery {
  prefix: string;
  delimiter: string;
  maxKeys: number;
  keyMarker: string;
  versionIdMarker: string;
}

export interface VersionSummary {
  key: string;
  versionId: string;
  isLatest: boolean;
  lastModified: number;
  deleteMarker: boolean;
  size: number;
  etag: string;
}

export interface ListVersionsResult {
  versions: VersionSummary[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/**
 * A conditional write (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), checked
 * by the bucket's single writer at commit time so that of concurrent creators exactly one wins.
 */
export type WriteCondition = { ifNoneMatch: "*" } | { ifMatch: string };

/** Why a conditional write was refused: S3 answers 412, or 404 for If-Match on a missing key. */
export type WriteConditionFailure = "PreconditionFailed" | "NoSuchKey";

export function checkWriteCondition(current: ObjectRecord | null, condition: WriteCondition | undefined): WriteConditionFailure | undefined {
  if (!condition) return undefined;
  if ("ifNoneMatch" in condition) return current ? "PreconditionFailed" : undefined;
  if (!current) return "NoSuchKey";
  const wanted = condition.ifMatch.trim().replace(/^"|"$/g, "");
  return wanted === "*" || wanted === current.etag ? undefined : "PreconditionFailed";
}

export interface ObjectSummary {
  key: string;
  size: number;
  etag: string;
  lastModified: number;
  storageClass: string;
}

export interface ListQuery {
  prefix: string;
  delimiter: string;
  maxKeys: number;
  /** Resume point: list keys after `value`; with `skipPrefix`, skip every key starting with `value`. */
  cursor?: { value: string; skipPrefix: boolean };
}

export interface ListResult {
  contents: ObjectSummary[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** Where the next page starts (the last key or common prefix returned) when truncated. */
  next?: { value: string; skipPrefix: boolean };
}

export interface MultipartUpload {
  uploadId: string;
  key: string;
  initiated: number;
  headers: StoredHeaders;
  userMetadata: Record<string, string>;
  tags?: Record<string, string>;
  /** Checksum algorithm requested at creation (x-amz-checksum-algorithm). */
  checksumAlgorithm?: string;
  /** Chosen at creation; every part is encrypted under it (SSE-C parts must present the same key). */
  encryption?: ObjectEncryption;
  /** The Object Lock the upload asked for (x-amz-object-lock-*), given to the object when it completes. */
  lock?: ObjectLock;
  /** The ACL the upload asked for (x-amz-acl, x-amz-grant-*), given to the object when it completes. */
  acl?: ObjectAcl;
}

export interface ListUploadsQuery {
  prefix: string;
  delimiter: string;
  maxUploads: number;
  keyMarker: string;
  uploadIdMarker: string;
}

export interface ListUploadsResult {
  uploads: MultipartUpload[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
}

export interface UploadedPart extends ObjectSegment {
  partNumber: number;
  lastModified: number;
}

/**
 * What a CompleteMultipartUpload answered, kept for a while after the upload itself is gone so that a client
 * retrying after a lost response gets the same answer (multipart.ts in the bucket index).
 */
export interface CompletedUpload {
  uploadId: string;
  key: string;
  /** The part list the client completed with: a retry must send the same one. */
  parts: { partNumber: number; etag: string }[];
  etag: string;
  versionId?: string;
  checksum?: ObjectRecord["checksum"];
  encryption?: ObjectEncryption;
  /** Milliseconds since the epoch. */
  completed: number;
}

/** `replayed`: the upload had completed already with the same parts, and this is that completion's answer. */
export type CompleteUploadResult =
  | { ok: true; completion: CompletedUpload; replayed: boolean; replaced: ObjectRecord | null; discarded: UploadedPart[] }
  | { ok: false; code: "NoSuchUpload" | "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | WriteConditionFailure; message?: string };

/** `replaced` is a version that no longer exists (its blobs must be freed); the new record carries its versionId. */
export type PutObjectResult = { ok: true; replaced: ObjectRecord | null; record: ObjectRecord } | { ok: false; code: WriteConditionFailure };

/** Smallest part S3 accepts for every part but the last (5 MiB). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;

/** Every blob an object (or set of parts) references, for deleting them from nodes. */
export function replicasOf(segments: readonly ObjectSegment[]): BlobReplica[] {
  return segments.flatMap((s) => s.replicas);
}

/** One segment the repair chore must fix: its replicas now, and those to replace. */
export interface RepairWork {
  key: string;
  versionId: string;
  segment: number;
  /** Bytes of the blob (ciphertext) that every replica holds. */
  blobSize: number;
  replicas: BlobReplica[];
  drop: BlobReplica[];
  /** Erasure-coded segments: the code, each piece's blob id, and the segment's plaintext size. */
  erasure?: ErasureCode & { pieceBlobIds: string[]; pieceRoots: string[]; segmentSize: number };
  /** The blob is sealed (edge encryption), so its copies can be masked (unique replicas); absent before encryption. */
  sealed?: boolean;
}
