// The D1 registry: operators, nodes, accounts, access keys and buckets. The only file that names tables.
// Migrations in migrations/ are generated from this file with `npm run db:generate` and never edited once shipped.

import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const OPERATOR_STATUSES = ["pending", "approved", "suspended"] as const;
export type OperatorStatus = (typeof OPERATOR_STATUSES)[number];

export const NODE_STATUSES = ["active", "draining", "offline", "suspended"] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** Datacenter operators, identified by the wallet that signs their nodes' registrations. */
export const operators = sqliteTable("operators", {
  address: text("address").primaryKey(), // lowercase 0x-address
  name: text("name").notNull().default(""),
  status: text("status", { enum: OPERATOR_STATUSES }).notNull().default("pending"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** ScalerNodes: one node-agent each, with its own SigV4 credentials for edge<->node traffic. */
export const nodes = sqliteTable(
  "nodes",
  {
    id: text("id").primaryKey(),
    operatorAddress: text("operator_address")
      .notNull()
      .references(() => operators.address),
    url: text("url").notNull(),
    zone: text("zone").notNull(),
    capacityBytes: integer("capacity_bytes").notNull(),
    /**
     * Bytes the edge has placed on the node and not yet deleted: the sum of its `placed_blobs` rows, kept in the
     * same batch as each row changes. Placement caps free space by capacityBytes - placedBytes, whatever the
     * node says about its disk; settlement bills storage from it.
     */
    placedBytes: integer("placed_bytes").notNull().default(0),
    /** The node's own word in its last heartbeat; an unhealthy node gets no new data. */
    healthy: integer("healthy", { mode: "boolean" }).notNull().default(true),
    usedBytes: integer("used_bytes").notNull().default(0),
    freeBytes: integer("free_bytes").notNull().default(0),
    blobCount: integer("blob_count").notNull().default(0),
    /**
     * 0..1: placement weight for the node's track record. Every corrupt or missing blob found on it costs 10%,
     * every healthy heartbeat earns back 1%, so a node that keeps losing data gets ever less of it.
     */
    reputation: real("reputation").notNull().default(1),
    status: text("status", { enum: NODE_STATUSES }).notNull().default("active"),
    /** Scrub reports accepted from the node since `scrubWindowStartedAt` (ms): the edge bounds them per window. */
    scrubReportsInWindow: integer("scrub_reports_in_window").notNull().default(0),
    scrubWindowStartedAt: integer("scrub_window_started_at").notNull().default(0),
    lastHeartbeatAt: integer("last_heartbeat_at"),
    agentVersion: text("agent_version").notNull(),
    accessKeyId: text("access_key_id").notNull().unique(),
    secretEnc: text("secret_enc").notNull(),
    registeredAt: integer("registered_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("nodes_status_idx").on(t.status)],
);

/**
 * Blobs a node reported corrupt or missing (scrub) or the edge found bad on read: the repair chore replaces
 * these replicas, then removes the row.
 */
export const blobFaults = sqliteTable(
  "blob_faults",
  {
    nodeId: text("node_id").notNull(),
    blobId: text("blob_id").notNull(),
    reason: text("reason", { enum: ["corrupt", "missing", "read_mismatch"] }).notNull(),
    reportedAt: integer("reported_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.blobId] })],
);

/**
 * Every blob the edge has put on a node (write quorum reached, or a repair copy stored) and not yet deleted
 * from it: the per-node account placement and settlement read, and the list a node's scrub report is checked
 * against (a node can only report faults in blobs the edge placed there).
 */
export const placedBlobs = sqliteTable(
  "placed_blobs",
  {
    nodeId: text("node_id").notNull(),
    blobId: text("blob_id").notNull(),
    /** Bytes on the node (the ciphertext blob's size). */
    bytes: integer("bytes").notNull(),
    placedAt: integer("placed_at").notNull(),
    /**
     * 0x-hex Merkle root of the blob as stored on this node (src/protocol/audit.ts leaves), which validators
     * challenge it against; null until known (blobs written before roots were recorded).
     */
    merkleRoot: text("merkle_root"),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.blobId] })],
);

/** EIP-712 nonces already used for registration; kept until their signature's expiry passes. */
export const registrationNonces = sqliteTable("registration_nonces", {
  nonce: text("nonce").primaryKey(),
  operatorAddress: text("operator_address").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

/** Customer accounts: every bucket and access key belongs to exactly one. */
export const accounts = sqliteTable("accounts", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  status: text("status", { enum: ["active", "suspended"] }).notNull().default("active"),
  createdAt: integer("created_at").notNull(),
});

/** S3 access keys; the secret is AES-GCM encrypted under the Worker's KEY_ENCRYPTION_KEY. */
export const accessKeys = sqliteTable(
  "access_keys",
  {
    accessKeyId: text("access_key_id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    secretEnc: text("secret_enc").notNull(),
    status: text("status", { enum: ["active", "inactive"] }).notNull().default("active"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("access_keys_account_idx").on(t.accountId)],
);

/** A bucket's erasure code when it asked for full replicas instead. */
export const NO_ERASURE_CODE = "none";

/** Buckets: globally unique names; `id` names the bucket's BucketIndex Durable Object. */
export const buckets = sqliteTable(
  "buckets",
  {
    name: text("name").primaryKey(),
    id: text("id").notNull().unique(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    region: text("region").notNull(),
    createdAt: integer("created_at").notNull(),
    /** How many nodes hold each blob of this bucket's replicated segments (1-5), set at creation. */
    replicationFactor: integer("replication_factor").notNull().default(3),
    /**
     * The bucket's erasure code, "k+m"; NO_ERASURE_CODE for a bucket that replicates; null for the edge's default
     * (ERASURE_CODE), which is what buckets made before erasure coding have.
     */
    erasureCode: text("erasure_code"),
    /**
     * The bucket key (SSE-S3), wrapped by a master key (src/services/crypto/keys.ts). Null only for buckets
     * created before edge encryption, which get one on their first encrypted write.
     */
    wrappedKey: text("wrapped_key"),
  },
  (t) => [index("buckets_account_idx").on(t.accountId)],
);

export const KMS_KEY_STATES = ["Enabled", "Disabled", "PendingDeletion"] as const;
export type KmsKeyState = (typeof KMS_KEY_STATES)[number];

/**
 * Per-account KMS keys for SSE-KMS. The material (32 random bytes) is stored only wrapped under the master key
 * ring, bound to the account and key id; `wrappedBy` names the master key so rotation finds what to re-wrap.
 * A deleted key's row is removed, material and all (crypto-erase): nothing encrypted under it opens again.
 */
export const kmsKeys = sqliteTable(
  "kms_keys",
  {
    id: text("id").primaryKey(), // a UUID, like AWS key ids
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    /** `alias/<name>`, unique within the account. */
    alias: text("alias"),
    description: text("description").notNull().default(""),
    state: text("state", { enum: KMS_KEY_STATES }).notNull().default("Enabled"),
    /** When the deletion chore destroys the key (ms); set only while PendingDeletion. */
    deletionDate: integer("deletion_date"),
    materialWrapped: text("material_wrapped").notNull(),
    wrappedBy: text("wrapped_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("kms_keys_account_alias_unique").on(t.accountId, t.alias),
    index("kms_keys_wrapped_by_idx").on(t.wrappedBy),
    index("kms_keys_deletion_date_idx").on(t.deletionDate),
  ],
);

/**
 * The test clock's offset (one row, id 1): how far the edge's clock runs ahead of real time. Read only when the
 * TEST_CLOCK var is "true" (tests and the local network); see src/clock.ts.
 */
export const testClock = sqliteTable("test_clock", {
  id: integer("id").primaryKey(),
  offsetMs: integer("offset_ms").notNull(),
});

/**
 * Where a long chore that walks the whole network resumes (one row per chore): its cursor, which only the chore
 * reads, and when it finished. A finished chore's run costs one read of its row.
 */
export const choreCursors = sqliteTable("chore_cursors", {
  chore: text("chore").primaryKey(),
  /** JSON the chore alone understands; null once done. */
  cursor: text("cursor"),
  /** When the walk finished (ms); null while it is still under way. */
  doneAt: integer("done_at"),
  updatedAt: integer("updated_at").notNull(),
});

export type OperatorRow = typeof operators.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type AccountRow = typeof accounts.$inferSelect;
export type AccessKeyRow = typeof accessKeys.$inferSelect;
export type BucketRow = typeof buckets.$inferSelect;
export type KmsKeyRow = typeof kmsKeys.$inferSelect;
