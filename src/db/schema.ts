// The D1 registry: operators, nodes, accounts, access keys and buckets. The only file that names tables.
// Migrations in migrations/ are generated from this file with `npm run db:generate` and never edited once shipped.

import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { NODE_STANDINGS } from "../protocol/node-protocol.ts";

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
    /**
     * Standing from audits (node_reputation holds the scores): suspended and disqualified nodes get no new data and
     * their pieces are repaired elsewhere; vetting nodes get a smaller share. Kept here so placement and repair
     * read it with the node.
     */
    standing: text("standing", { enum: NODE_STANDINGS }).notNull().default("vetting"),
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

/** "revoked" is final: the account's control API revokes keys (src/api/access-keys.ts), and nothing re-activates one. */
export const ACCESS_KEY_STATUSES = ["active", "inactive", "revoked"] as const;
export type AccessKeyStatus = (typeof ACCESS_KEY_STATUSES)[number];

/** S3 access keys; the secret is AES-GCM encrypted under the Worker's KEY_ENCRYPTION_KEY. */
export const accessKeys = sqliteTable(
  "access_keys",
  {
    accessKeyId: text("access_key_id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id),
    secretEnc: text("secret_enc").notNull(),
    status: text("status", { enum: ACCESS_KEY_STATUSES }).notNull().default("active"),
    createdAt: integer("created_at").notNull(),
    /**
     * What a scoped key may reach, as JSON (src/s3/key-scope.ts: permission and bucket/prefix pairs); null for an
     * unrestricted key. A key's scope never changes: an account wanting another scope mints another key.
     */
    scope: text("scope"),
    name: text("name"),
    /** ms since the epoch; from then on the key is refused (checked on every request, src/s3/auth.ts). */
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    /** The key that signed the request minting this one; null when the edge admin minted it. */
    createdBy: text("created_by"),
  },
  (t) => [index("access_keys_account_idx").on(t.accountId)],
);

/**
 * The access-control audit log (src/db/access-audit.ts): one row per change of who may do what, readable by the
 * account it concerns. Not tied to accounts by a foreign key, so the record outlives what it describes.
 */
export const accessAudit = sqliteTable(
  "access_audit",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** The account whose access control changed (the owner of the bucket or key): the one that reads the entry. */
    accountId: text("account_id").notNull(),
    /** Who changed it: an account and the access key it signed with; both null for the edge admin. */
    actorAccountId: text("actor_account_id"),
    actorAccessKeyId: text("actor_access_key_id"),
    action: text("action").notNull(),
    target: text("target").notNull(),
    /** JSON of what was in force before and after; null where nothing was. */
    before: text("before"),
    after: text("after"),
    at: integer("at").notNull(),
    requestId: text("request_id"),
  },
  (t) => [index("access_audit_account_idx").on(t.accountId, t.id)],
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

// ---- Audit reputation (issue 16): src/db/reputation.ts

/** Audit and online beta reputations of a node (src/services/reputation.ts); its standing is nodes.standing. */
export const nodeReputation = sqliteTable("node_reputation", {
  nodeId: text("node_id").primaryKey(),
  auditAlpha: real("audit_alpha").notNull(),
  auditBeta: real("audit_beta").notNull(),
  onlineAlpha: real("online_alpha").notNull(),
  onlineBeta: real("online_beta").notNull(),
  passed: integer("passed").notNull().default(0),
  failed: integer("failed").notNull().default(0),
  timeouts: integer("timeouts").notNull().default(0),
  /** Random token replaced at every write: a write based on a stale read changes nothing (optimistic check). */
  version: text("version").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Pieces in containment: consecutive timeouts so far; the coordinator challenges them again. */
export const auditContainment = sqliteTable(
  "audit_containment",
  {
    nodeId: text("node_id").notNull(),
    pieceId: text("piece_id").notNull(),
    timeouts: integer("timeouts").notNull(),
    lastRoundId: text("last_round_id").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.pieceId] })],
);

/** Every audit outcome applied to a node, newest read first: the history operators read (no bucket ids). */
export const nodeAuditOutcomes = sqliteTable(
  "node_audit_outcomes",
  {
    nodeId: text("node_id").notNull(),
    roundId: text("round_id").notNull(),
    pieceId: text("piece_id").notNull(),
    outcome: text("outcome", { enum: ["pass", "fail", "timeout"] }).notNull(),
    /** How it counted: a contained timeout counts as neither pass nor fail yet. */
    counted: text("counted", { enum: ["pass", "fail", "contained"] }).notNull(),
    auditScore: real("audit_score").notNull(),
    standing: text("standing", { enum: NODE_STANDINGS }).notNull(),
    at: integer("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.roundId, t.pieceId] }), index("node_audit_outcomes_node_at_idx").on(t.nodeId, t.at)],
);

/** Which rounds' outcomes were applied to which node or validator: applying a round again changes nothing. */
export const reputationRoundsApplied = sqliteTable(
  "reputation_rounds_applied",
  {
    roundId: text("round_id").notNull(),
    subject: text("subject", { enum: ["node", "validator"] }).notNull(),
    /** The node id, or the validator's lowercase stake address. */
    subjectId: text("subject_id").notNull(),
    appliedAt: integer("applied_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.roundId, t.subject, t.subjectId] })],
);

/** A validator's beta reputation over its assignments (costs only reputation, never stake). */
export const validatorReputation = sqliteTable("validator_reputation", {
  validator: text("validator").primaryKey(), // lowercase stake address
  alpha: real("alpha").notNull(),
  beta: real("beta").notNull(),
  completed: integer("completed").notNull().default(0),
  agreed: integer("agreed").notNull().default(0),
  minority: integer("minority").notNull().default(0),
  missed: integer("missed").notNull().default(0),
  version: text("version").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Per validator per UTC day: assignments counted by outcome; settlement pays validators by `agreed` per period. */
export const validatorAssignmentDays = sqliteTable(
  "validator_assignment_days",
  {
    validator: text("validator").notNull(),
    /** YYYY-MM-DD (UTC) of the round's close. */
    day: text("day").notNull(),
    completed: integer("completed").notNull().default(0),
    agreed: integer("agreed").notNull().default(0),
    minority: integer("minority").notNull().default(0),
    missed: integer("missed").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.validator, t.day] }), index("validator_assignment_days_day_idx").on(t.day)],
);

/**
 * Per validator per finance period (src/finance/periods.ts, the period of the round's close on the edge's clock):
 * the same counts as `validator_assignment_days`, written in the same D1 batch. Periods can be minutes long, so
 * settlement pays by these, never by days (a day spans many periods).
 */
export const validatorAssignmentPeriods = sqliteTable(
  "validator_assignment_periods",
  {
    validator: text("validator").notNull(),
    periodId: text("period_id").notNull(),
    completed: integer("completed").notNull().default(0),
    agreed: integer("agreed").notNull().default(0),
    minority: integer("minority").notNull().default(0),
    missed: integer("missed").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.validator, t.periodId] }), index("validator_assignment_periods_period_idx").on(t.periodId)],
);

/**
 * The one slash of a disqualified node: "pending" until sent, then "slashed" with its transaction hash, or
 * "skipped" with why (no chain configured, no stake held). `fromBlock` is the chain's height before the
 * transaction was sent, so a retry after a crash finds it on chain instead of slashing twice.
 */
export const nodeDisqualificationSlashes = sqliteTable("node_disqualification_slashes", {
  nodeId: text("node_id").primaryKey(),
  state: text("state", { enum: ["pending", "slashed", "skipped"] }).notNull(),
  /** ICNT base units, decimal. */
  amount: text("amount"),
  txHash: text("tx_hash"),
  fromBlock: integer("from_block"),
  detail: text("detail"),
  disqualifiedAt: integer("disqualified_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export type OperatorRow = typeof operators.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type AccountRow = typeof accounts.$inferSelect;
export type AccessKeyRow = typeof accessKeys.$inferSelect;
export type AccessAuditRow = typeof accessAudit.$inferSelect;
export type BucketRow = typeof buckets.$inferSelect;
export type KmsKeyRow = typeof kmsKeys.$inferSelect;

// ---- Finance (issue 17): the double-entry ledger, payments and price sheets. Queries in src/db/ledger.ts,
// src/db/payments.ts and src/db/price-sheets.ts; the rules in src/finance/. Every amount is a decimal string of
// integer base units of its currency (USD cents, USDC 6 decimals, ICNT 18 decimals): never a float, and never a
// SQLite INTEGER where it could pass 2^63 (ICNT amounts do).

/**
 * One journal entry: a set of lines balanced per currency (src/finance/ledger.ts refuses anything else). `key` is
 * the caller's idempotency key (e.g. `payment:<id>`, `settlement:<period>:buyback`): the primary key makes a second
 * post of the same key fail inside the D1 batch that carries the lines, so it changes nothing.
 */
export const ledgerEntries = sqliteTable(
  "ledger_entries",
  {
    key: text("key").primaryKey(),
    /** The accounting period the entry belongs to (src/finance/periods.ts): what a trial balance is taken over. */
    periodId: text("period_id").notNull(),
    /** What kind of event it records: payment, refund, invoice, buyback, payout… (free text, for reports). */
    kind: text("kind").notNull(),
    memo: text("memo").notNull().default(""),
    /** When the event happened (ms, the edge's clock). */
    occurredAt: integer("occurred_at").notNull(),
    /** SHA-256 hex of the entry's canonical form: a second post under the same key must carry the same entry. */
    digest: text("digest").notNull(),
    postedAt: integer("posted_at").notNull(),
  },
  (t) => [index("ledger_entries_period_idx").on(t.periodId, t.occurredAt)],
);

/** The lines of an entry: one side of one account in one currency; `amount` > 0. */
export const ledgerLines = sqliteTable(
  "ledger_lines",
  {
    entryKey: text("entry_key")
      .notNull()
      .references(() => ledgerEntries.key),
    lineNo: integer("line_no").notNull(),
    /** A code of the chart of accounts (src/finance/chart.ts). */
    account: text("account").notNull(),
    /** The sub-ledger within it: a customer account id, an operator's address…; "" for none. */
    subaccount: text("subaccount").notNull().default(""),
    currency: text("currency").notNull(),
    side: text("side", { enum: ["debit", "credit"] }).notNull(),
    /** Decimal string of base units, > 0. */
    amount: text("amount").notNull(),
    periodId: text("period_id").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.entryKey, t.lineNo] }),
    index("ledger_lines_period_idx").on(t.periodId, t.currency),
    index("ledger_lines_account_idx").on(t.account, t.subaccount, t.currency),
  ],
);

/**
 * Money received: a payment-provider payment or a bank transfer. `id` is the provider's payment id or
 * `bank:<reference>`. The CHECK keeps refunds within the payment inside SQLite itself, so two refunds racing
 * cannot together exceed it: the batch whose update would cross the bound fails whole. Minor-unit amounts of a
 * payment are capped (src/finance/payments.ts) far below 2^63, so SQLite's integer arithmetic is exact here.
 */
export const payments = sqliteTable(
  "payments",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    currency: text("currency").notNull(),
    /** Minor units (cents), decimal. */
    amountMinor: text("amount_minor").notNull(),
    refundedMinor: text("refunded_minor").notNull().default("0"),
    source: text("source", { enum: ["webhook", "bank"] }).notNull(),
    /** The webhook event or bank reference that recorded it. */
    sourceRef: text("source_ref").notNull(),
    /** The ledger entry of the credit. */
    entryKey: text("entry_key").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [
    index("payments_account_idx").on(t.accountId, t.receivedAt),
    check("payments_refund_within_amount", sql`CAST(${t.refundedMinor} AS INTEGER) >= 0 AND CAST(${t.refundedMinor} AS INTEGER) <= CAST(${t.amountMinor} AS INTEGER)`),
  ],
);

/** Payment-provider events applied, by the provider's event id: inserted in the batch of their ledger entry. */
export const paymentEvents = sqliteTable("payment_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  paymentId: text("payment_id").notNull(),
  accountId: text("account_id").notNull(),
  currency: text("currency").notNull(),
  amountMinor: text("amount_minor").notNull(),
  entryKey: text("entry_key").notNull(),
  receivedAt: integer("received_at").notNull(),
});

/**
 * Versions of the price sheet, never changed once written: an invoice names the version it was priced with.
 * Prices are integer micro-units of `currency` (1 USD = 1,000,000) per unit, decimal strings.
 */
export const priceSheets = sqliteTable("price_sheets", {
  version: integer("version").primaryKey(),
  currency: text("currency").notNull(),
  /** From when (ms) the sheet prices usage; a later version takes over at its own. */
  effectiveFrom: integer("effective_from").notNull(),
  storagePerTbMonth: text("storage_per_tb_month").notNull(),
  egressPerTb: text("egress_per_tb").notNull(),
  classAPerMillion: text("class_a_per_million").notNull(),
  classBPerMillion: text("class_b_per_million").notNull(),
  createdAt: integer("created_at").notNull(),
});

// ---- Metering (issue 17): src/db/usage.ts. Byte-ms and byte counts are decimal strings (a bucket's byte-ms pass
// 2^63 within hours at a petabyte); request counts per batch and slot are SQLite integers.

/**
 * Usage of one bucket as its index sealed it (workers/durable/bucket-index/metering.ts): one row per flushed batch
 * and slot (UTC day × finance period). The index's batch id is the idempotency key: a batch sent again after a
 * crash inserts nothing. The account is the bucket's owner at flush time.
 */
export const bucketUsage = sqliteTable(
  "bucket_usage",
  {
    bucketId: text("bucket_id").notNull(),
    batchId: text("batch_id").notNull(),
    /** YYYY-MM-DD, UTC. */
    day: text("day").notNull(),
    periodId: text("period_id").notNull(),
    accountId: text("account_id").notNull(),
    bucketName: text("bucket_name").notNull(),
    /** Σ stored bytes (as clients see object sizes) × ms held, decimal. */
    storageByteMs: text("storage_byte_ms").notNull(),
    bytesIn: text("bytes_in").notNull(),
    bytesOut: text("bytes_out").notNull(),
    classA: integer("class_a").notNull(),
    classB: integer("class_b").notNull(),
    sealedAt: integer("sealed_at").notNull(),
    flushedAt: integer("flushed_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.bucketId, t.batchId, t.day, t.periodId] }),
    index("bucket_usage_account_day_idx").on(t.accountId, t.day),
    index("bucket_usage_period_idx").on(t.periodId),
  ],
);

/**
 * Bytes each node delivered to the edge for client reads (GetObject), counted as they passed and kept in the read
 * bucket's index until flushed (workers/durable/bucket-index/metering.ts): one row per flushed batch, node and slot,
 * keyed like `bucket_usage` by the index's batch id, so a batch sent again after a crash inserts nothing. Written
 * in the same D1 batch as the bucket's `bucket_usage` rows.
 */
export const nodeEgress = sqliteTable(
  "node_egress",
  {
    bucketId: text("bucket_id").notNull(),
    batchId: text("batch_id").notNull(),
    nodeId: text("node_id").notNull(),
    /** YYYY-MM-DD, UTC. */
    day: text("day").notNull(),
    periodId: text("period_id").notNull(),
    /** Bytes the node sent (ciphertext as stored on it), decimal. */
    bytesServed: text("bytes_served").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.bucketId, t.batchId, t.nodeId, t.day, t.periodId] }),
    index("node_egress_period_idx").on(t.periodId),
    index("node_egress_node_day_idx").on(t.nodeId, t.day),
  ],
);

/**
 * Bytes each node held, integrated by the flush chore from `placed_blobs` (src/db/usage.ts): one row per
 * integration step (from `fromMs` to the node's next `integratedTo`) and slot.
 */
export const nodeUsage = sqliteTable(
  "node_usage",
  {
    nodeId: text("node_id").notNull(),
    /** The step (node_usage_steps) this row belongs to: where it started (0 for the node's first). */
    fromMs: integer("from_ms").notNull(),
    day: text("day").notNull(),
    periodId: text("period_id").notNull(),
    /** Σ placed bytes × ms held, decimal. */
    heldByteMs: text("held_byte_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.fromMs, t.day, t.periodId] }), index("node_usage_period_idx").on(t.periodId), index("node_usage_node_day_idx").on(t.nodeId, t.day)],
);

/**
 * The integration steps of each node's holding, [fromMs, toMs): the next step starts at the latest toMs. A step is
 * inserted in the batch of its node_usage rows, so a second run of the same step fails whole and records nothing.
 */
export const nodeUsageSteps = sqliteTable(
  "node_usage_steps",
  {
    nodeId: text("node_id").notNull(),
    fromMs: integer("from_ms").notNull(),
    toMs: integer("to_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.fromMs] })],
);

// ---- Rewards (issue 17): each period's Merkle root as posted to RewardsDistributor, and every leaf with its proof,
// so operators and validators fetch their claim from the edge (GET /api/v1/finance/claims/:address). Queries in
// src/db/rewards.ts; written by src/services/rewards-posting.ts once the posting transaction is mined.

export const rewardPostings = sqliteTable("reward_postings", {
  /** The finance period (src/finance/periods.ts). */
  periodId: text("period_id").primaryKey(),
  /** RewardsDistributor's uint256 period: the finance period's start in unix seconds, as a decimal string. */
  chainPeriod: text("chain_period").notNull().unique(),
  root: text("root").notNull(),
  /** ICNT base units funded, decimal: the sum of the leaves. */
  total: text("total").notNull(),
  txHash: text("tx_hash").notNull(),
  postedAt: integer("posted_at").notNull(),
});

export const rewardLeaves = sqliteTable(
  "reward_leaves",
  {
    periodId: text("period_id")
      .notNull()
      .references(() => rewardPostings.periodId),
    /** Lowercase 0x address. */
    address: text("address").notNull(),
    amount: text("amount").notNull(),
    /** JSON array of 0x hashes. */
    proof: text("proof").notNull(),
  },
  (t) => [primaryKey({ columns: [t.periodId, t.address] }), index("reward_leaves_address_idx").on(t.address, t.periodId)],
);

// ---- Settlement (issue 17): src/db/settlement.ts, run by workers/cron/settlement.ts.

export const SETTLEMENT_PERIOD_STATES = ["open", "closed", "settled", "deferred"] as const;
export type SettlementPeriodState = (typeof SETTLEMENT_PERIOD_STATES)[number];

/**
 * One accounting period as settlement sees it: open until its close step has invoiced it, closed once its usage is
 * invoiced and its revenue recognized, settled once its rewards are posted (deferred while a buyback waits).
 */
export const settlementPeriods = sqliteTable("settlement_periods", {
  id: text("id").primaryKey(),
  state: text("state", { enum: SETTLEMENT_PERIOD_STATES }).notNull(),
  /** [startsAt, endsAt) in ms, from the period id (src/finance/periods.ts). */
  startsAt: integer("starts_at").notNull(),
  endsAt: integer("ends_at").notNull(),
  /** When the close step took its usage: the period's end, or earlier for a close on demand. */
  closedAt: integer("closed_at"),
  /** The invoices' currency and their summed totals (minor units, decimal): the revenue recognized. */
  currency: text("currency"),
  revenueMinor: text("revenue_minor").notNull().default("0"),
  invoices: integer("invoices").notNull().default(0),
  updatedAt: integer("updated_at").notNull(),
});

export const SETTLEMENT_STEP_STATES = ["running", "prepared", "done", "failed"] as const;
export type SettlementStepState = (typeof SETTLEMENT_STEP_STATES)[number];

/**
 * Each step of a period's settlement, recorded: a step once `done` is never run again. `result` is the step's JSON
 * record (for close: the invoices it priced, kept from `prepared` on, so a resumed step posts exactly those).
 */
export const settlementSteps = sqliteTable(
  "settlement_steps",
  {
    periodId: text("period_id").notNull(),
    step: text("step").notNull(),
    state: text("state", { enum: SETTLEMENT_STEP_STATES }).notNull(),
    result: text("result"),
    error: text("error"),
    attempts: integer("attempts").notNull().default(0),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.periodId, t.step] })],
);

/**
 * Readings of the buyback pool's price accumulators (src/chain/amm.ts PriceObservation), stored by the every-minute
 * tick: the start of the TWAP window the settlement's buyback measures the price over (Uniswap v2's
 * ExampleSlidingWindowOracle keeps the same). Cumulative prices are decimal strings (UQ112x112 sums exceed 2^63).
 */
export const poolObservations = sqliteTable(
  "pool_observations",
  {
    pair: text("pair").notNull(),
    /** Chain time (block timestamp, unix seconds) the accumulators are brought up to. */
    timestamp: integer("timestamp").notNull(),
    price0Cumulative: text("price0_cumulative").notNull(),
    price1Cumulative: text("price1_cumulative").notNull(),
    token0: text("token0").notNull(),
    blockNumber: integer("block_number").notNull(),
    /** The edge's clock when it was read (ms). */
    observedAt: integer("observed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.pair, t.timestamp] })],
);

// ---- Finance alerts (issue 17, "Finance surface"): src/db/finance-alerts.ts.

export const FINANCE_ALERT_KINDS = ["deferred", "failed"] as const;
export type FinanceAlertKind = (typeof FINANCE_ALERT_KINDS)[number];

/**
 * A settlement step that was deferred (e.g. a buyback whose pool price strayed from the TWAP) or failed, for finance
 * ops. At most one open alert per (period, step, kind, reason): the hourly chore hitting the same condition again
 * bumps `occurrences` and `last_seen_at` of that row. Once the step succeeds its alerts are resolved (kept, with
 * `resolved_at`), and a later recurrence opens a new one.
 */
export const financeAlerts = sqliteTable(
  "finance_alerts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    periodId: text("period_id").notNull(),
    step: text("step").notNull(),
    kind: text("kind", { enum: FINANCE_ALERT_KINDS }).notNull(),
    /** A stable code for what went wrong (`twap_deviation`, `step_error`), what scripts and dashboards group by. */
    reason: text("reason").notNull(),
    /** The latest occurrence's words, for people. */
    message: text("message").notNull(),
    raisedAt: integer("raised_at").notNull(),
    lastSeenAt: integer("last_seen_at").notNull(),
    resolvedAt: integer("resolved_at"),
    occurrences: integer("occurrences").notNull().default(1),
  },
  (t) => [
    uniqueIndex("finance_alerts_open_idx").on(t.periodId, t.step, t.kind, t.reason).where(sql`${t.resolvedAt} IS NULL`),
    index("finance_alerts_step_idx").on(t.periodId, t.step),
    check("finance_alerts_kind", sql`${t.kind} IN ('deferred', 'failed')`),
  ],
);
export type FinanceAlertRow = typeof financeAlerts.$inferSelect;
// ---- Prepaid ICNT (issue 17): the wallet each account links (src/db/wallets.ts, POST /api/v1/account/wallet), whose
// ServiceEscrow balance settlement draws from (src/services/escrow-draws.ts).

/** One wallet per account, and a wallet linked to at most one account. */
export const accountWallets = sqliteTable("account_wallets", {
  accountId: text("account_id")
    .primaryKey()
    .references(() => accounts.id),
  /** Lowercase 0x address. */
  wallet: text("wallet").notNull().unique(),
  /** The proof of control: the EIP-712 LinkWallet signature (src/protocol/wallet-link.ts) and its issuedAt (unix s). */
  signature: text("signature").notNull(),
  issuedAt: integer("issued_at").notNull(),
  /** ms, the edge's clock. */
  linkedAt: integer("linked_at").notNull(),
});
