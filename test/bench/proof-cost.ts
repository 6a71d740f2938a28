// `npm run bench:proofs`: what a node pays to answer a storage challenge (the target: under 50 ms of CPU
// for k = 16 leaves of a 1 GiB piece). A 1 GiB piece is written through the node's BlobStore (tree and all) in a temp
// dir, then challenged with fresh seeds through the node's ChallengeResponder exactly as POST /audit/challenges does
// (signature check, piece id, leaf reads, paths from the tree file, the JSON answer); each answer is checked with
// verifyStorageProof outside the measurement. Also measured: the write, and building the tree of a piece stored
// before trees existed (what its first challenge costs). The temp dir is removed at the end.
//
//   --mib N        piece size in MiB (default 1024)
//   --challenges N challenges measured (default 9; median reported)
//   --json FILE    writes the measurements as JSON
//
// The piece was just written, so its pages are likely in the OS cache: the leaf reads measure the node's own work,
// not a cold disk's seeks (16 random 64 KiB reads, a few ms more on an SSD).

import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { privateKeyToAccount } from "viem/accounts";
import {
  AUDIT_LEAF_BYTES,
  DEFAULT_LEAVES_PER_CHALLENGE,
  assignmentTypedMessage,
  auditTypes,
  leafCountOf,
  leafIndexesFor,
  pieceIdOf,
  verifyStorageProof,
  type Assignment,
  type Hex32,
} from "../../src/protocol/audit.ts";
import { registrationDomain } from "../../src/protocol/node-protocol.ts";
import type { AuditDomainInfo } from "../../src/protocol/validator-session.ts";
import { ChallengeResponder } from "../../node-agent/src/audit-challenge.ts";
import { AuditDomainCache } from "../../node-agent/src/audit-domain.ts";
import { BlobStore } from "../../node-agent/src/blob-store.ts";

const { values: args } = parseArgs({
  options: { mib: { type: "string", default: "1024" }, challenges: { type: "string", default: "9" }, json: { type: "string" } },
});
const MiB = 1024 * 1024;
const size = Number(args.mib) * MiB;
const challenges = Number(args.challenges);
if (!Number.isInteger(size) || size < 1 || size > 64 * 1024 * MiB) throw new Error("--mib must be 1..65536");
if (!Number.isInteger(challenges) || challenges < 1 || challenges > 101) throw new Error("--challenges must be 1..101");
const TARGET_CPU_MS = 50;

// Anvil's well-known test key (account 2): never holds real funds.
const edgeAudit = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const NODE_ID = "node_00112233aabbccdd";
const domain = await registrationDomain(31337, "bench-edge");
const domainInfo: AuditDomainInfo = {
  domain: { ...domain },
  assignmentSigner: edgeAudit.address,
  auditLog: `0x${"a0".repeat(20)}`,
  nodeStaking: `0x${"b0".repeat(20)}`,
  chainId: 31337,
  seedDelayBlocks: 2,
};

/** CPU (user + system) and wall milliseconds of `work`. */
async function measure<T>(work: () => Promise<T>): Promise<{ result: T; cpuMs: number; wallMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { result, cpuMs: (used.user + used.system) / 1000, wallMs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The piece, streamed in 1 MiB chunks of one random block (the hashes do not care that blocks repeat). */
function* pieceChunks(): Generator<Uint8Array> {
  const block = randomBytes(MiB);
  for (let sent = 0; sent < size; sent += block.length) yield block.subarray(0, Math.min(block.length, size - sent));
}

const dataDir = await mkdtemp(join(tmpdir(), "icn-bench-proofs-"));
let failed = false;
try {
  const store = await BlobStore.open(dataDir);
  const blobId = `bench-${randomBytes(12).toString("hex")}`;
  console.log(`proof cost: writing a ${size / MiB} MiB piece through the BlobStore in ${dataDir}…`);
  const write = await measure(() => store.put(blobId, pieceChunks(), { merkleLeafBytes: AUDIT_LEAF_BYTES }));
  const merkleRoot = `0x${write.result.merkleRoot!}` as Hex32;
  const leafCount = leafCountOf(size);
  const pieceId = await pieceIdOf(NODE_ID, blobId);
  const responder = new ChallengeResponder({ store, nodeId: NODE_ID, domain: new AuditDomainCache(async () => domainInfo), answersPerAssignment: 1 });

  const challenge = async (roundId: number) => {
    const seed = `0x${randomBytes(32).toString("hex")}` as Hex32;
    const assignment: Assignment = {
      roundId,
      nodeId: NODE_ID,
      pieceId,
      merkleRoot,
      leafCount,
      leafIndexes: await leafIndexesFor(seed, pieceId, leafCount, DEFAULT_LEAVES_PER_CHALLENGE),
      seed,
      deadline: Math.floor(Date.now() / 1000) + 60,
    };
    const signature = await edgeAudit.signTypedData({ domain, types: auditTypes, primaryType: "ChallengeAssignment", message: assignmentTypedMessage(assignment) });
    // What the route does: answer, then serialize the JSON body.
    const m = await measure(async () => {
      const proof = await responder.answer({ assignment, signature, blobId });
      return { proof, bodyBytes: JSON.stringify(proof).length };
    });
    const check = await verifyStorageProof(assignment, m.result.proof);
    if (!check.ok) throw new Error(`round ${roundId}: the proof does not verify: ${check.reason}`);
    return { cpuMs: m.cpuMs, wallMs: m.wallMs, bodyBytes: m.result.bodyBytes };
  };

  await challenge(1); // warm-up: module code, the signer's curve tables, the domain document
  const runs = [];
  for (let r = 0; r < challenges; r++) runs.push(await challenge(2 + r));

  // A piece stored before trees existed: its first challenge builds the tree from the whole piece.
  await rm(join(dataDir, "blobs", blobId.slice(-2), `${blobId}.tree`));
  const firstOfOld = await challenge(1000);

  const report = {
    pieceMiB: size / MiB,
    leafCount,
    leavesPerChallenge: DEFAULT_LEAVES_PER_CHALLENGE,
    challenges,
    answerCpuMsMedian: median(runs.map((r) => r.cpuMs)),
    answerWallMsMedian: median(runs.map((r) => r.wallMs)),
    answerCpuMs: runs.map((r) => +r.cpuMs.toFixed(2)),
    answerBodyBytes: runs[0]!.bodyBytes,
    writeMiBps: size / MiB / (write.wallMs / 1000),
    writeCpuMsPerMiB: write.cpuMs / (size / MiB),
    oldPieceFirstChallenge: { cpuMs: firstOfOld.cpuMs, wallMs: firstOfOld.wallMs },
    targetCpuMs: TARGET_CPU_MS,
  };
  console.log(
    `proof cost: k = ${DEFAULT_LEAVES_PER_CHALLENGE} leaves of a ${report.pieceMiB} MiB piece (${leafCount} leaves): ` +
      `median ${report.answerCpuMsMedian.toFixed(1)} ms CPU, ${report.answerWallMsMedian.toFixed(1)} ms wall over ${challenges} challenges ` +
      `(target < ${TARGET_CPU_MS} ms CPU: ${report.answerCpuMsMedian < TARGET_CPU_MS ? "met" : "MISSED"}); answer ${(report.answerBodyBytes / MiB).toFixed(2)} MiB of JSON`,
  );
  console.log(
    `proof cost: writing the piece with its tree ${report.writeMiBps.toFixed(0)} MiB/s (${report.writeCpuMsPerMiB.toFixed(2)} ms CPU per MiB); ` +
      `first challenge of a piece stored before trees: ${firstOfOld.cpuMs.toFixed(0)} ms CPU, ${firstOfOld.wallMs.toFixed(0)} ms wall (builds and keeps its tree)`,
  );
  if (args.json) await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
} catch (error) {
  failed = true;
  console.error(`proof cost failed: ${(error as Error).stack ?? error}`);
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
