// A storage node's challenge route, POST /audit/challenges, answering from real bytes with the Merkle tree of
// src/protocol/merkle.ts, plus the ways a node goes wrong: a flipped byte on disk, a missing piece, a slow or
// failing disk. Until the node-agent serves the route itself, this is what the validator challenges.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AUDIT_LEAF_BYTES,
  challengeRequestSchema,
  DEFAULT_LEAVES_PER_CHALLENGE,
  leafCountOf,
  leafIndexesFor,
  NODE_CHALLENGE_PATH,
  pieceIdOf,
  proofLeaf,
  type Assignment,
  type StorageProof,
} from "../../../src/protocol/audit.ts";
import { hex, randomHex } from "../../../src/protocol/crypto.ts";
import { merkleLeafHash, merkleProof, merkleRootOf } from "../../../src/protocol/merkle.ts";

export type NodeBehaviour =
  | { kind: "honest" }
  /** One byte of the first challenged leaf flipped on disk, size kept. */
  | { kind: "corrupt" }
  /** The piece is gone: 404. */
  | { kind: "missing" }
  /** The first `count` requests wait `delayMs` before answering (honestly); later ones answer at once. */
  | { kind: "slow-first"; delayMs: number; count?: number }
  /** The first `count` requests get this status; later ones an honest proof. */
  | { kind: "error-first"; status: number; count?: number }
  /** Never answers. */
  | { kind: "hang" };

export interface StoredPiece {
  nodeId: string;
  blobId: string;
  pieceId: `0x${string}`;
  merkleRoot: `0x${string}`;
  leafCount: number;
  bytes: Uint8Array;
  leafHashes: Uint8Array[];
}

export interface ProvingNode {
  url: string;
  nodeId: string;
  /** Challenges received, per blob id. */
  requests(blobId: string): number;
  totalRequests(): number;
  /** The most challenges the node was answering at one time. */
  maxInFlight(): number;
  /** Stores a piece of `size` random bytes and how the node will answer for it. */
  store(blobId: string, size: number, behaviour?: NodeBehaviour): Promise<StoredPiece>;
  /** The honest proof for an assignment (what evidenceHashOf must be computed over). */
  honestProof(blobId: string, assignment: Assignment): Promise<StorageProof>;
  close(): Promise<void>;
}

export const PROVING_NODE_ID = "node_a1b2c3d4e5f60718";

export async function startProvingNode(nodeId = PROVING_NODE_ID): Promise<ProvingNode> {
  const pieces = new Map<string, { piece: StoredPiece; behaviour: NodeBehaviour }>();
  const counts = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;

  const proofFor = async (piece: StoredPiece, assignment: Assignment, corrupt: boolean): Promise<StorageProof> => {
    const leaves = [];
    for (const [i, index] of assignment.leafIndexes.entries()) {
      const data = piece.bytes.slice(index * AUDIT_LEAF_BYTES, Math.min(piece.bytes.length, (index + 1) * AUDIT_LEAF_BYTES));
      if (corrupt && i === 0) data[0]! ^= 0xff;
      leaves.push(proofLeaf(index, data, await merkleProof(piece.leafHashes, index)));
    }
    return { pieceId: piece.pieceId, leaves };
  };

  const server: Server = createServer(async (req, res) => {
    if (req.method !== "POST" || req.url !== NODE_CHALLENGE_PATH) return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const parsed = challengeRequestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    if (!parsed.success) return void res.writeHead(400).end();
    const { assignment, blobId } = parsed.data;
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    res.once("close", () => inFlight--);
    const seen = (counts.get(blobId) ?? 0) + 1;
    counts.set(blobId, seen);
    const held = pieces.get(blobId);
    const behaviour = held?.behaviour ?? { kind: "missing" };
    if (held === undefined || behaviour.kind === "missing") return void res.writeHead(404, { "content-type": "application/json" }).end('{"code":"NoSuchPiece"}');
    if (behaviour.kind === "hang") return; // the socket stays open until the validator gives up
    if (behaviour.kind === "error-first" && seen <= (behaviour.count ?? 1)) return void res.writeHead(behaviour.status).end();
    if (behaviour.kind === "slow-first" && seen <= (behaviour.count ?? 1)) await sleep(behaviour.delayMs);
    if (res.destroyed) return;
    const proof = await proofFor(held.piece, assignment, behaviour.kind === "corrupt");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(proof));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    nodeId,
    requests: (blobId) => counts.get(blobId) ?? 0,
    totalRequests: () => [...counts.values()].reduce((a, b) => a + b, 0),
    maxInFlight: () => maxInFlight,
    store: async (blobId, size, behaviour = { kind: "honest" }) => {
      const bytes = new Uint8Array(randomBytes(size));
      const leafCount = leafCountOf(size);
      const leafHashes: Uint8Array[] = [];
      for (let i = 0; i < leafCount; i++) leafHashes.push(await merkleLeafHash(bytes.subarray(i * AUDIT_LEAF_BYTES, (i + 1) * AUDIT_LEAF_BYTES)));
      const piece: StoredPiece = {
        nodeId,
        blobId,
        pieceId: await pieceIdOf(nodeId, blobId),
        merkleRoot: `0x${hex(await merkleRootOf(leafHashes))}`,
        leafCount,
        bytes,
        leafHashes,
      };
      pieces.set(blobId, { piece, behaviour });
      return piece;
    },
    honestProof: (blobId, assignment) => proofFor(pieces.get(blobId)!.piece, assignment, false),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An assignment for a stored piece in round `roundId`, with a fresh seed and the leaves it picks. */
export async function assignmentFor(piece: StoredPiece, roundId: number, deadline: number): Promise<Assignment> {
  const seed = `0x${randomHex(32)}` as `0x${string}`;
  return {
    roundId,
    nodeId: piece.nodeId,
    pieceId: piece.pieceId,
    merkleRoot: piece.merkleRoot,
    leafCount: piece.leafCount,
    leafIndexes: await leafIndexesFor(seed, piece.pieceId, piece.leafCount, DEFAULT_LEAVES_PER_CHALLENGE),
    seed,
    deadline,
  };
}
