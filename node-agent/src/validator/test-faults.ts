// Deliberate misbehaviour, for end-to-end tests only: they show that the network outvotes and slashes a dishonest
// validator. A fault is read from ICN_VALIDATOR_FAULT and honoured only with --allow-test-faults on the same command
// line, so a stray environment variable can never turn a production validator dishonest.
//
//   attest-pass-always   challenge the node as usual, never check its answer, and attest "pass" with whatever proof
//                        came back, or, when none did (a missing piece), with a made-up one. A pass must carry its
//                        proof as evidence, and this one does not verify against the root: objective grounds to slash.

import { AUDIT_LEAF_BYTES, proofLeaf, type Assignment, type StorageProof } from "../../../src/protocol/audit.ts";
import { ConfigError } from "../config.ts";

export const TEST_FAULT_ENV = "ICN_VALIDATOR_FAULT";
export const TEST_FAULTS = ["attest-pass-always"] as const;
export type TestFault = (typeof TEST_FAULTS)[number];

export function parseTestFault(value: string | undefined, allowed: boolean): TestFault | undefined {
  if (value === undefined) return undefined;
  if (!(TEST_FAULTS as readonly string[]).includes(value)) {
    throw new ConfigError(`${TEST_FAULT_ENV}: '${value}' is not a test fault (one of: ${TEST_FAULTS.join(", ")})`);
  }
  if (!allowed) throw new ConfigError(`${TEST_FAULT_ENV}=${value} makes this validator dishonest on purpose; it is refused without --allow-test-faults`);
  return value as TestFault;
}

/** The proof a dishonest validator claims to have seen when the node gave none: zero-filled leaves, no paths. */
export function fabricatedProof(assignment: Assignment): StorageProof {
  return {
    pieceId: assignment.pieceId,
    leaves: assignment.leafIndexes.map((index) => proofLeaf(index, new Uint8Array(AUDIT_LEAF_BYTES), [])),
  };
}
