// The wire contract between the edge and a node-agent: registration (EIP-712), heartbeats, and the blob API.
// Shared by both programs; keep it free of runtime-specific imports.

import { z } from "zod";

/** SigV4 scope for every request between edge and node (both directions), signed with the node's credentials. */
export const NODE_SIGV4_REGION = "icn";
/** Blob traffic uses service "s3" so aws4fetch signs UNSIGNED-PAYLOAD and bodies stream unbuffered. */
export const NODE_BLOB_SERVICE = "s3";
/** Control-API calls from the node (heartbeat, offline) sign their small JSON body in full. */
export const NODE_CONTROL_SERVICE = "icn";

/** Header carrying the SHA-256 (hex) of a whole blob, on PUT responses and GET/HEAD responses. */
export const BLOB_SHA256_HEADER = "x-icn-blob-sha256";

/** Edge-assigned blob ids: lowercase, no dots or slashes, so a path can never escape the blob directory. */
export const BLOB_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{15,127}$/;
export const blobIdSchema = z.string().regex(BLOB_ID_PATTERN, "blob id must match [a-z0-9][a-z0-9_-]{15,127}");

export const NODE_ID_PATTERN = /^node_[0-9a-f]{16}$/;
export const nodeIdSchema = z.string().regex(NODE_ID_PATTERN, "node id must look like node_ followed by 16 hex digits");

export const ZONE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

// ---- Registration: the operator's wallet signs this EIP-712 message (https://eips.ethereum.org/EIPS/eip-712).

export const REGISTRATION_DOMAIN_NAME = "ICN Edge";
export const REGISTRATION_DOMAIN_VERSION = "1";

/** An edge's id (EDGE_ID): unique among the edges that share a chain. */
export const EDGE_ID_PATTERN = /^[a-z0-9][a-z0-9.-]{0,62}$/;
export const edgeIdSchema = z.string().regex(EDGE_ID_PATTERN, "edge id must be lowercase letters, digits, dots and dashes (max 63)");

/**
 * The EIP-712 domain of a registration with one edge. The domain's `salt` (EIP-712 "an disambiguating salt for
 * the protocol") is the SHA-256 of the edge's id, so a signature made for one edge is refused by every other
 * edge on the same chain, however fresh its nonce and expiry.
 */
export async function registrationDomain(chainId: number, edgeId: string) {
  const salt = `0x${await sha256HexOf(`ICN Edge node registration\u0000${edgeId}`)}` as `0x${string}`;
  return { name: REGISTRATION_DOMAIN_NAME, version: REGISTRATION_DOMAIN_VERSION, chainId, salt } as const;
}

async function sha256HexOf(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** GET /api/v1/nodes/registration-domain: what a node needs to sign a registration for this edge. */
export const registrationDomainInfoSchema = z.object({ edgeId: edgeIdSchema, chainId: z.number().int().positive() });
export type RegistrationDomainInfo = z.infer<typeof registrationDomainInfoSchema>;

export const registrationTypes = {
  NodeRegistration: [
    { name: "nodeId", type: "string" },
    { name: "url", type: "string" },
    { name: "zone", type: "string" },
    { name: "capacityBytes", type: "uint256" },
    { name: "agentVersion", type: "string" },
    { name: "nonce", type: "bytes32" },
    { name: "expiry", type: "uint64" },
  ],
} as const;

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address");

export const registrationMessageSchema = z.object({
  nodeId: nodeIdSchema,
  url: z.url({ protocol: /^https?$/ }).max(2048),
  zone: z.string().regex(ZONE_PATTERN, "zone must be lowercase letters, digits and dashes"),
  /** Decimal string: capacities exceed 2^53 in real datacenters. */
  capacityBytes: z.string().regex(/^[1-9]\d{0,30}$/, "capacityBytes must be a positive decimal integer"),
  agentVersion: z.string().min(1).max(64),
  nonce: hex32,
  /** Unix seconds after which the signature is void. */
  expiry: z.number().int().positive(),
});
export type RegistrationMessage = z.infer<typeof registrationMessageSchema>;

export const registrationRequestSchema = z.object({
  operator: address,
  message: registrationMessageSchema,
  signature: z.string().regex(/^0x[0-9a-fA-F]+$/, "signature must be 0x-prefixed hex"),
});
export type RegistrationRequest = z.infer<typeof registrationRequestSchema>;

/** Converts the JSON message into the typed values EIP-712 hashing needs. */
export function registrationTypedMessage(m: RegistrationMessage) {
  return {
    nodeId: m.nodeId,
    url: m.url,
    zone: m.zone,
    capacityBytes: BigInt(m.capacityBytes),
    agentVersion: m.agentVersion,
    nonce: m.nonce as `0x${string}`,
    expiry: BigInt(m.expiry),
  };
}

export interface RegistrationResponse {
  nodeId: string;
  /** SigV4 credentials for all edge<->node traffic; the secret is shown only in this response. */
  accessKeyId: string;
  secretAccessKey: string;
  region: typeof NODE_SIGV4_REGION;
  heartbeatIntervalSeconds: number;
  offlineAfterSeconds: number;
}

// ---- Heartbeat: POST /api/v1/nodes/:nodeId/heartbeat, SigV4-signed (service "icn").

// Disk figures are the node's own word: bounded here (safe integers, free space within the disk's total), and placement
// never lets them exceed the capacity the operator registered (src/services/placement.ts).
export const heartbeatSchema = z
  .object({
    totalBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    freeBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    usedBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    blobCount: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    /** False when the node knows it should get no new data (failing disk, read-only filesystem). */
    healthy: z.boolean(),
    agentVersion: z.string().min(1).max(64),
  })
  .refine((h) => h.freeBytes <= h.totalBytes, { path: ["freeBytes"], message: "freeBytes cannot exceed totalBytes" });
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/**
 * A node's standing from its audits (src/services/reputation.ts), separate from its operational status: warned,
 * suspended (no new data, its pieces repaired elsewhere) and disqualified (final, stake slashed) are the ones its
 * operator must hear about.
 */
export const NODE_STANDINGS = ["vetting", "active", "warned", "suspended", "disqualified"] as const;
export type NodeStanding = (typeof NODE_STANDINGS)[number];

/** The heartbeat's answer. `standing` is absent from edges older than audits; the agent logs it when it is bad. */
export const heartbeatResponseSchema = z.object({
  ok: z.literal(true),
  /** The node's operational status in the registry (active, draining, offline, suspended). */
  status: z.string().optional(),
  standing: z.enum(NODE_STANDINGS).optional(),
});
export type HeartbeatResponse = z.infer<typeof heartbeatResponseSchema>;

// ---- Blob API served by the node-agent (every route SigV4-signed by the edge, service "s3"):
//   PUT    /blobs/:blobId   body streamed; 201 {blobId,size,sha256} once fsynced and renamed into place
//   GET    /blobs/:blobId   optional Range: bytes=a-b; 200/206; BLOB_SHA256_HEADER carries the whole blob's hash
//   HEAD   /blobs/:blobId
//   DELETE /blobs/:blobId   204, idempotent
// Errors are JSON {code, message}: NoSuchBlob 404, InvalidBlobId 400, InvalidRange 416,
// InsufficientStorage 507, AccessDenied 403, ...

export function blobPath(blobId: string): string {
  return `/blobs/${blobId}`;
}

/**
 * On a PUT, asks the node to compute the Merkle root of the blob cut into leaves of this many bytes
 * (src/protocol/merkle.ts) and return it as `merkleRoot`: how the edge checks that a piece arrived intact.
 */
export const MERKLE_LEAF_BYTES_HEADER = "x-icn-merkle-leaf-bytes";
/** The largest Merkle leaf a node accepts (a leaf is held in memory while it is hashed). */
export const MAX_MERKLE_LEAF_BYTES = 1024 * 1024;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const blobPutResponseSchema = z.object({
  blobId: blobIdSchema,
  size: z.number().int().nonnegative(),
  sha256: hex64,
  /** Present when the PUT asked for it (MERKLE_LEAF_BYTES_HEADER), and after a reconstruct. */
  merkleRoot: hex64.optional(),
});
export type BlobPutResponse = z.infer<typeof blobPutResponseSchema>;

/** JSON error body used by the control API and the node-agent alike. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

// ---- Durability (repair and scrub). All routes below are SigV4-signed by the edge like the blob API.
//   POST /blobs/:blobId/replicate   body ReplicateRequest: the node pulls the blob from `sourceUrl` (a presigned
//                                   GET on a peer node, valid for minutes), verifies size and SHA-256 while
//                                   writing, and answers 201 BlobPutResponse; 502 SourceFailed / 422 BadDigest.
//   GET  /blobs?after=&limit=       BlobListing: the node's blob ids in order (orphan detection), at most 1000.
//   POST /scrub                     starts a scrub pass now (202); one runs on a schedule anyway.
// Node -> edge (service "icn"): POST /api/v1/nodes/:nodeId/scrub-report with a ScrubReport after each pass.

export const replicateRequestSchema = z.object({
  sourceUrl: z.url({ protocol: /^https?$/ }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});
export type ReplicateRequest = z.infer<typeof replicateRequestSchema>;

/**
 * POST /blobs/:blobId/reconstruct: the node rebuilds piece `piece` of an erasure-coded segment from `sources`
 * (exactly k other pieces of the same segment, each a presigned GET on the node holding it), stripe by stripe
 * (src/protocol/piece-layout.ts, src/protocol/reed-solomon.ts), and stores it under `blobId` only when the
 * result's Merkle root is `merkleRoot`. Answers 201 BlobPutResponse (with merkleRoot); 502 SourceFailed when a
 * source fails, 422 BadDigest when the rebuilt piece is not the one expected. No key is needed: pieces are
 * ciphertext.
 */
export const reconstructRequestSchema = z
  .object({
    k: z.number().int().min(1).max(32),
    m: z.number().int().min(1).max(31),
    piece: z.number().int().nonnegative(),
    /** Plaintext bytes of the segment: fixes the number of stripes and the piece's length. */
    segmentBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    merkleRoot: hex64,
    sources: z.array(z.object({ piece: z.number().int().nonnegative(), url: z.url({ protocol: /^https?$/ }) })),
  })
  .refine((r) => r.k + r.m <= 32, { message: "k + m must be at most 32" })
  .refine((r) => r.piece < r.k + r.m, { path: ["piece"], message: "piece must be below k + m" })
  .refine((r) => r.sources.length === r.k, { path: ["sources"], message: "exactly k sources are needed" })
  .refine((r) => new Set(r.sources.map((s) => s.piece)).size === r.k && r.sources.every((s) => s.piece < r.k + r.m && s.piece !== r.piece), {
    path: ["sources"],
    message: "sources must be k distinct other pieces of the segment",
  });
export type ReconstructRequest = z.infer<typeof reconstructRequestSchema>;

export const blobListingSchema = z.object({
  /** `createdAt` is milliseconds since the epoch (the orphan sweep compares it with its grace period). */
  blobs: z.array(z.object({ blobId: blobIdSchema, size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/), createdAt: z.number() })),
  /** Present when more blobs follow: pass it as `after`. */
  next: blobIdSchema.optional(),
});
export type BlobListing = z.infer<typeof blobListingSchema>;

/** Findings per list in one scrub report; a node with more sends the rest in its next reports. */
export const MAX_SCRUB_FINDINGS_PER_REPORT = 1000;

export const scrubReportSchema = z.object({
  /** Milliseconds since the epoch, like finishedAt. */
  startedAt: z.number(),
  finishedAt: z.number(),
  scanned: z.number().int().nonnegative(),
  /** Blobs whose bytes no longer hash to their recorded SHA-256: moved to quarantine, never served again. */
  corrupt: z
    .array(z.object({ blobId: blobIdSchema, expectedSha256: z.string().max(64), actualSha256: z.string().max(64) }))
    .max(MAX_SCRUB_FINDINGS_PER_REPORT),
  /** Blobs whose sidecar exists but whose data file is gone (or the reverse). */
  missing: z.array(blobIdSchema).max(MAX_SCRUB_FINDINGS_PER_REPORT),
});
export type ScrubReport = z.infer<typeof scrubReportSchema>;
