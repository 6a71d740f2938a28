// The ProtocolTransactions Durable Object's tables, in its SQLite storage.
//
//   transactions  one row per step key: the transaction signed for it (raw bytes and hash) under the nonce it
//                 holds, how often it was broadcast, earlier signings whose nonce another sender took, and the
//                 block it was mined in once a resume saw the receipt
//   leases        named exclusive leases (one settlement run at a time), each with its holder and expiry

export type ProtocolTxStore = Pick<DurableObjectStorage, "sql" | "transactionSync">;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS transactions (
  chain_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  sender TEXT NOT NULL,
  nonce INTEGER NOT NULL,
  raw TEXT NOT NULL,
  hash TEXT NOT NULL,
  signed_at INTEGER NOT NULL,
  broadcasts INTEGER NOT NULL DEFAULT 0,
  replaced_hashes TEXT NOT NULL DEFAULT '[]',
  mined_block INTEGER,
  PRIMARY KEY (chain_id, key)
);
CREATE INDEX IF NOT EXISTS transactions_by_nonce ON transactions (chain_id, sender, nonce);
CREATE TABLE IF NOT EXISTS leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
`;

export function migrateProtocolTransactions(store: ProtocolTxStore): void {
  store.transactionSync(() => {
    for (const statement of SCHEMA.split(";").map((s) => s.trim()).filter(Boolean)) store.sql.exec(statement);
  });
}

export interface StoredTransaction {
  chainId: number;
  key: string;
  sender: string;
  nonce: number;
  raw: `0x${string}`;
  hash: `0x${string}`;
  signedAt: number;
  broadcasts: number;
  replacedHashes: string[];
  minedBlock: number | null;
}

type Row = Record<string, SqlStorageValue>;

export function transactionOf(row: Row): StoredTransaction {
  return {
    chainId: Number(row.chain_id),
    key: String(row.key),
    sender: String(row.sender),
    nonce: Number(row.nonce),
    raw: String(row.raw) as `0x${string}`,
    hash: String(row.hash) as `0x${string}`,
    signedAt: Number(row.signed_at),
    broadcasts: Number(row.broadcasts),
    replacedHashes: JSON.parse(String(row.replaced_hashes)) as string[],
    minedBlock: row.mined_block === null ? null : Number(row.mined_block),
  };
}
