// Reaching one blob on its node for a read: the node's endpoint (cached per isolate), a GET that retries once
// with fresh registry data when the node moved or re-keyed, and the fault record a bad or missing blob leaves for
// the repair chore. Shared by replicated and erasure-coded reads.

import { insertBlobFault } from "../db/faults.ts";
import { getNode } from "../db/registry.ts";
import type { NodeRow } from "../db/schema.ts";
import type { Db } from "../db/client.ts";
import { nodeHealth } from "./node-health.ts";
import { fetchBlob, NodeRequestError, type NodeEndpoint } from "./node-client.ts";
import type { BlobReplica } from "./object-model.ts";
import type { NodeEgressTally } from "./metering.ts";
import { TtlCache } from "./ttl-cache.ts";

/**
 * What reaching nodes takes: the registry, the secret that opens node credentials, the liveness window, the clock;
 * and, for a client's GET, the tally of bytes each node delivers (counted by the readers as bytes arrive).
 */
export interface StorageEnv {
  db: Db;
  kek: string;
  offlineAfterMs: number;
  now: number;
  served?: NodeEgressTally;
}

/**
 * Node endpoints for reads, cached per isolate. A node that re-registers gets new credentials and perhaps a
 * new URL; a read that fails with the stale ones drops the entry and retries once. Placement always reads
 * the registry: a write cannot be retried once its body has started to flow.
 */
const ENDPOINT_CACHE_TTL_MS = 10_000;
const endpoints = new TtlCache<string, NodeRow>(ENDPOINT_CACHE_TTL_MS);

export async function endpointFor(storage: StorageEnv, nodeId: string): Promise<NodeEndpoint> {
  const node = await endpoints.get(nodeId, storage.now, () => getNode(storage.db, nodeId));
  if (!node) throw new NodeRequestError(nodeId, 0, "node is no longer registered");
  return node;
}

/** GETs a replica, once more with a fresh registry entry when the node moved or re-keyed. */
export async function fetchReplica(storage: StorageEnv, replica: BlobReplica, range?: { start: number; end: number }): Promise<Response> {
  const started = Date.now();
  try {
    let res: Response;
    try {
      res = await fetchBlob(await endpointFor(storage, replica.nodeId), storage.kek, replica.blobId, range);
    } catch (error) {
      if (!(error instanceof NodeRequestError) || (error.status !== 403 && error.status !== 0)) throw error;
      endpoints.delete(replica.nodeId);
      res = await fetchBlob(await endpointFor(storage, replica.nodeId), storage.kek, replica.blobId, range);
    }
    nodeHealth.recordLatency(replica.nodeId, Date.now() - started, Date.now());
    return res;
  } catch (error) {
    nodeHealth.recordFailure(replica.nodeId, Date.now());
    throw error;
  }
}

/** Records a replica that served wrong bytes, or none, so the repair chore replaces it. */
export function reportFault(storage: StorageEnv, replica: BlobReplica, reason: "missing" | "read_mismatch", waitUntil: (p: Promise<unknown>) => void): void {
  console.warn(JSON.stringify({ event: "replica_fault", nodeId: replica.nodeId, blobId: replica.blobId, reason }));
  waitUntil(insertBlobFault(storage.db, replica.nodeId, replica.blobId, reason, storage.now).catch(() => {}));
}

