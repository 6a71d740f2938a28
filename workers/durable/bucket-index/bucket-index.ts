// BucketIndex: one Durable Object per bucket, the single writer of that bucket's object index.
// Its SQLite storage makes listing strongly consistent and every write atomic. Blobs live on nodes;
// this object only records where. Callers delete blobs that a write or delete made unreferenced.
//
// This file is the RPC surface only: each method hands its storage to the plain function of its concern
// (schema.ts, versions.ts, listing.ts, multipart.ts, replicas.ts, repair.ts, lifecycle.ts, configuration.ts,
// metering.ts, lock.ts).

import { DurableObject } from "cloudflare:workers";
import { configOf } from "../../../src/config.ts";
import type { Env } from "../../../src/env.ts";
import { METERED_METHODS, periodLocator, type MeteredMethod, type MeterEvent, type NodeBytes } from "../../../src/services/metering.ts";
import type {
  BlobReplica,
  CompleteUploadResult,
  DeleteOutcome,
  ListQuery,
  ListResult,
  ListUploadsQuery,
  ListUploadsResult,
  ListVersionsQuery,
  ListVersionsResult,
  MultipartUpload,
  ObjectAcl,
  ObjectRecord,
  ObjectVersion,
  PutObjectResult,
  RepairWork,
  UploadedPart,
  VersioningState,
  WriteCondition,
} from "../../../src/services/object-model.ts";
import * as configuration from "./configuration.ts";
import type { BucketConfig, BucketConfigName } from "./configuration.ts";
import { applyLifecycle, type LifecycleOutcome } from "./lifecycle.ts";
import * as listing from "./listing.ts";
import * as lock from "./lock.ts";
import type { LockChangeResult, LockConfigurationChange, ProtectedVersions } from "./lock.ts";
import type { BucketObjectLock, Retention } from "../../../src/s3/object-lock.ts";
import * as multipart from "./multipart.ts";
import * as replicas from "./replicas.ts";
import * as repair from "./repair.ts";
import * as metering from "./metering.ts";
import type { UsageBatch } from "./metering.ts";
import { migrateIndex } from "./schema.ts";
import type { ReplicaCursor, ReplicaPage } from "./replicas.ts";
import type { IndexStore } from "./store.ts";
import * as versions from "./versions.ts";

export type { BucketConfig, BucketConfigName } from "./configuration.ts";
export type { ReplicaCursor, ReplicaOnNode, ReplicaPage } from "./replicas.ts";
export type { LockChangeResult, LockConfigurationChange, ProtectedVersions } from "./lock.ts";
export type { NodeEgressRow, UsageBatch, UsageBatchRow } from "./metering.ts";

const METERED = new Set<string>(METERED_METHODS);

export class BucketIndex extends DurableObject<Env> {
  private readonly store: IndexStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = ctx.storage;
    migrateIndex(this.store);
    metering.migrateMeter(this.store);
  }

  // Usage metering (metering.ts)

  private get periodOf(): metering.PeriodLocator {
    return periodLocator(configOf(this.env).finance.periodMinutes);
  }

  /**
   * An S3 request's call of `method`, carrying its usage report (src/services/metering.ts): stored bytes are
   * integrated up to the request's time, the request is counted, the method runs, and a GET's bytes out are counted
   * from the record it read. All in this one synchronous turn, so concurrent requests are counted exactly.
   */
  metered(event: MeterEvent, method: MeteredMethod, args: unknown[]): unknown {
    if (!METERED.has(method)) throw new Error(`${method} is not a metered index method`);
    metering.advanceMeter(this.store, event.at, this.periodOf);
    metering.recordRequest(this.store, event, this.periodOf);
    const result = (this[method] as (...a: unknown[]) => unknown).apply(this, args);
    if (event.egress && (method === "getObject" || method === "getVersion")) {
      metering.recordEgress(this.store, event, result as ObjectVersion | null, this.periodOf);
    }
    return result;
  }

  /** What nodes delivered to the edge for one GET of this bucket, recorded after its response ended. */
  recordNodeEgress(at: number, served: NodeBytes[]): void {
    metering.recordNodeEgress(this.store, at, served, this.periodOf);
  }

  /** Seals the open usage into a batch and returns every batch D1 has not confirmed (workers/cron/usage-flush.ts). */
  sealUsage(now: number): UsageBatch[] {
    return metering.sealUsage(this.store, now, this.periodOf);
  }

  /** D1 has these batches: forget them. */
  ackUsage(batchIds: string[]): void {
    metering.ackUsage(this.store, batchIds);
  }

  /** Stored bytes, how far they are integrated, and the counters not yet sealed. */
  openUsage(): ReturnType<typeof metering.openUsage> {
    return metering.openUsage(this.store);
  }

  // Versions

  versioning(): VersioningState {
    return configuration.versioningOf(this.store);
  }

  /**
   * Enabled or Suspended; a versioned bucket never goes back to Unversioned (S3 has no such state change). False
   * when refused: a bucket with Object Lock stays Enabled.
   */
  setVersioning(state: "Enabled" | "Suspended"): boolean {
    return lock.setVersioning(this.store, state);
  }

  putObject(record: ObjectRecord, condition?: WriteCondition): PutObjectResult {
    return versions.putObject(this.store, record, condition);
  }

  setObjectTags(key: string, tags: Record<string, string>, versionId?: string): boolean {
    return versions.setObjectTags(this.store, key, tags, versionId);
  }

  setObjectAcl(key: string, acl: ObjectAcl, versionId?: string): boolean {
    return versions.setObjectAcl(this.store, key, acl, versionId);
  }

  getObject(key: string): ObjectRecord | null {
    return versions.getObject(this.store, key);
  }

  getVersion(key: string, versionId: string): ObjectVersion | null {
    return versions.getVersion(this.store, key, versionId);
  }

  /** `bypassGovernance`: the request sent x-amz-bypass-governance-retention and may use it. */
  deleteObject(key: string, versionId: string | undefined, now: number, bypassGovernance = false): DeleteOutcome {
    metering.advanceMeter(this.store, now, this.periodOf);
    return versions.deleteObject(this.store, key, versionId, now, bypassGovernance);
  }

  // Object Lock

  /** False when versioning is not Enabled (S3: InvalidBucketState). */
  putObjectLockConfiguration(config: BucketObjectLock): LockConfigurationChange {
    return lock.putObjectLockConfiguration(this.store, config);
  }

  setRetention(key: string, versionId: string | undefined, retention: Retention | null, now: number, bypassGovernance: boolean): LockChangeResult {
    return lock.setRetention(this.store, key, versionId, retention, now, bypassGovernance);
  }

  setLegalHold(key: string, versionId: string | undefined, on: boolean): LockChangeResult {
    return lock.setLegalHold(this.store, key, versionId, on);
  }

  /** What Object Lock still protects at `now` (only versions under `kmsKeyId` when given). */
  protectedVersions(now: number, kmsKeyId?: string): ProtectedVersions {
    return lock.protectedVersions(this.store, now, kmsKeyId);
  }

  // Listing

  listObjects(query: ListQuery): ListResult {
    return listing.listObjects(this.store, query);
  }

  listVersions(query: ListVersionsQuery): ListVersionsResult {
    return listing.listVersions(this.store, query);
  }

  // The whole bucket

  /** True when no version (delete markers included) and no multipart upload remains (DeleteBucket's precondition). */
  isEmpty(): boolean {
    return !versions.hasVersions(this.store) && !multipart.hasUploads(this.store);
  }

  /**
   * Erases the whole index (its account was deleted): every record, and with them every wrapped data key. The
   * blobs on nodes become orphans for the orphan sweep, and noise already: nothing left can decrypt them.
   */
  async erase(): Promise<void> {
    await this.ctx.storage.deleteAll();
    // An empty index again, for a request that still finds the deleted bucket in a stale cache.
    migrateIndex(this.store);
    metering.migrateMeter(this.store);
  }

  // Multipart uploads

  createUpload(upload: MultipartUpload): void {
    multipart.createUpload(this.store, upload);
  }

  getUpload(uploadId: string): MultipartUpload | null {
    return multipart.getUpload(this.store, uploadId);
  }

  putPart(uploadId: string, part: UploadedPart): { ok: true; replaced: UploadedPart | null } | { ok: false } {
    return multipart.putPart(this.store, uploadId, part);
  }

  listParts(uploadId: string): UploadedPart[] {
    return multipart.listParts(this.store, uploadId);
  }

  completeUpload(
    uploadId: string,
    key: string,
    requested: { partNumber: number; etag: string }[],
    etag: string,
    now: number,
    condition?: WriteCondition,
    checksum?: ObjectRecord["checksum"],
  ): CompleteUploadResult {
    metering.advanceMeter(this.store, now, this.periodOf);
    return multipart.completeUpload(this.store, uploadId, key, requested, etag, now, condition, checksum);
  }

  abortUpload(uploadId: string): UploadedPart[] | null {
    return multipart.abortUpload(this.store, uploadId);
  }

  listUploads(query: ListUploadsQuery): ListUploadsResult {
    return multipart.listUploads(this.store, query);
  }

  abortUploadsStartedBefore(cutoff: number): { uploadId: string; parts: UploadedPart[] }[] {
    return multipart.abortUploadsStartedBefore(this.store, cutoff);
  }

  // Lifecycle

  applyLifecycle(now: number, budget = 1000): LifecycleOutcome {
    metering.advanceMeter(this.store, now, this.periodOf);
    return applyLifecycle(this.store, now, budget);
  }

  // Bucket configuration. RPC stubs drop type parameters: callers get these signatures back through
  // BucketIndexStub (src/services/bucket-indexes.ts).

  getConfig<N extends BucketConfigName>(name: N): BucketConfig[N] | null {
    return configuration.getConfig(this.store, name);
  }

  setConfig<N extends BucketConfigName>(name: N, value: BucketConfig[N]): void {
    configuration.setConfig(this.store, name, value);
  }

  deleteConfig(name: BucketConfigName): void {
    configuration.deleteConfig(this.store, name);
  }

  // Replicas: repair, drain and the orphan sweep

  findRepairWork(badNodes: string[], faulty: { nodeId: string; blobId: string }[], replicationFactor: number, limit: number): RepairWork[] {
    return repair.findRepairWork(this.store, badNodes, faulty, replicationFactor, limit);
  }

  replaceReplicas(key: string, versionId: string, segment: number, blobId: string, remove: string[], add: BlobReplica[]): boolean {
    return repair.replaceReplicas(this.store, key, versionId, segment, blobId, remove, add);
  }

  countReplicasOn(nodeId: string): number {
    return replicas.countReplicasOn(this.store, nodeId);
  }

  replicationSummary(): { segments: number; byCount: Record<string, number> } {
    return replicas.replicationSummary(this.store);
  }

  references(blobId: string, nodeId: string): boolean {
    return replicas.references(this.store, blobId, nodeId);
  }

  /** Every replica the index records, a page at a time (the placement-account backfill walks it). */
  listReplicaPage(after: ReplicaCursor | null, limit: number): ReplicaPage {
    return replicas.listReplicaPage(this.store, after, limit);
  }

  unreferenced(pairs: { nodeId: string; blobId: string }[]): { nodeId: string; blobId: string }[] {
    return replicas.unreferenced(this.store, pairs);
  }
}
