// The challenge coordinator's tables, in its Durable Object's SQLite storage: everything a round needs to survive
// eviction and restarts and to complete exactly once. A round's `phase` says which step runs next; each step is
// idempotent and records its result before the phase moves on.
//
//   rounds        one row per round: its phase, the on-chain commitment, the seed, the deadlines
//   challenges    the pieces a round challenges (chosen before the seed exists), their leaves and verdicts
//   assignments   which validator was asked about which challenge, and the attestation it signed
//   misconduct    objective evidence against a validator (a pass for a proof that does not verify, two
//                 conflicting attestations), and the slash it led to
//   containment   pieces whose node timed out, challenged again before the timeout counts (reputation
//                 decides how often: src/db/reputation.ts)
//   coverage      the last epoch each node was challenged in (every active node once per epoch)
//   epochs        each epoch's verdict root and the transaction that anchored it on chain

export type CoordinatorStore = Pick<DurableObjectStorage, "sql" | "transactionSync">;

export const ROUND_PHASES = ["committing", "seeding", "collecting", "closing", "closed"] as const;
export type RoundPhase = (typeof ROUND_PHASES)[number];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rounds (
  id INTEGER PRIMARY KEY,
  epoch INTEGER NOT NULL,
  phase TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  commitment TEXT NOT NULL,
  commit_tx TEXT,
  commit_block INTEGER,
  seed_block INTEGER,
  seed TEXT,
  replace_at INTEGER,
  deadline INTEGER,
  closed_at INTEGER,
  last_error TEXT
);
CREATE TABLE IF NOT EXISTS challenges (
  round_id INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  node_url TEXT NOT NULL,
  blob_id TEXT NOT NULL,
  piece_id TEXT NOT NULL,
  merkle_root TEXT NOT NULL,
  leaf_count INTEGER NOT NULL,
  leaf_indexes TEXT,
  assignment TEXT,
  assignment_signature TEXT,
  verdict TEXT,
  outcome TEXT,
  PRIMARY KEY (round_id, idx)
);
CREATE TABLE IF NOT EXISTS assignments (
  round_id INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  validator TEXT NOT NULL,
  operator TEXT NOT NULL,
  stake TEXT NOT NULL,
  state TEXT NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0,
  verdict TEXT,
  evidence_hash TEXT,
  signature TEXT,
  reason TEXT,
  evidence TEXT,
  received_at INTEGER,
  PRIMARY KEY (round_id, idx, validator)
);
CREATE TABLE IF NOT EXISTS misconduct (
  round_id INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  validator TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  slash_tx TEXT,
  PRIMARY KEY (round_id, idx, validator, kind)
);
CREATE TABLE IF NOT EXISTS containment (
  node_id TEXT NOT NULL,
  blob_id TEXT NOT NULL,
  PRIMARY KEY (node_id, blob_id)
);
CREATE TABLE IF NOT EXISTS coverage (
  node_id TEXT PRIMARY KEY,
  epoch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
  epoch INTEGER PRIMARY KEY,
  root TEXT NOT NULL,
  rounds INTEGER NOT NULL,
  anchor_tx TEXT
);
`;

export function migrateCoordinator(store: CoordinatorStore): void {
  store.sql.exec(SCHEMA);
}
