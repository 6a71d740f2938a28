// The WebSocket conversation between a validator (`icn-node-agent --validator`) and the edge's challenge
// coordinator (a Durable Object), and the public domain document validators and outsiders verify signatures with.
// One JSON message per WebSocket text frame; zod on both ends.
//
//   validator                          coordinator
//      ── connect GET /api/v1/validators/session (Upgrade: websocket)
//                                    ◀─ hello { nonce }
//      ─▶ login { login, signature }        (ValidatorLogin over that nonce, by the operational key)
//                                    ◀─ welcome { validator }   or  error + close
//                                    ◀─ assignment { ... }      (any time while logged in)
//      ─▶ attestation { attestation, signature, evidence? }
//                                    ◀─ ack { roundId, pieceId } or error

import { z } from "zod";
import { addressSchema, assignmentSchema, attestationSchema, hex32Schema, signatureSchema, storageProofSchema, validatorLoginSchema } from "./audit.ts";
import { blobIdSchema } from "./node-protocol.ts";

export const VALIDATOR_SESSION_PATH = "/api/v1/validators/session";
export const VALIDATOR_DOMAIN_PATH = "/api/v1/validators/domain";

/** Largest message either side sends: an attestation with a 16-leaf proof is about 1.4 MB of base64. */
export const MAX_SESSION_MESSAGE_BYTES = 8 * 1024 * 1024;

export const coordinatorMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), nonce: hex32Schema }),
  z.object({ type: z.literal("welcome"), validator: addressSchema }),
  z.object({
    type: z.literal("assignment"),
    assignment: assignmentSchema,
    /** The edge's EIP-712 signature over the assignment (the node checks it too). */
    signature: signatureSchema,
    /** Private to the validator and the node: the public record names the piece only by its id. */
    blobId: blobIdSchema,
    nodeUrl: z.url({ protocol: /^https?$/ }),
  }),
  z.object({ type: z.literal("ack"), roundId: z.number().int().positive(), pieceId: hex32Schema }),
  z.object({ type: z.literal("error"), message: z.string().max(1000) }),
]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;

export const validatorMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("login"), login: validatorLoginSchema, signature: signatureSchema }),
  z.object({
    type: z.literal("attestation"),
    attestation: attestationSchema,
    signature: signatureSchema,
    /** The proof the node gave; required with a pass verdict, whose evidence hash must be this proof's. */
    evidence: storageProofSchema.optional(),
    /**
     * Why a fail: its UTF-8 bytes are what the evidence hash covers (failureEvidenceHashOf), so the reason is signed
     * too. Reasons starting "timeout" mean the node did not answer in time: the piece is retried before it counts.
     */
    reason: z.string().min(1).max(500).optional(),
  }),
]);
export type ValidatorMessage = z.infer<typeof validatorMessageSchema>;

/** GET /api/v1/validators/domain: everything needed to re-verify an assignment, an attestation or a login. */
export const auditDomainInfoSchema = z.object({
  domain: z.object({ name: z.string(), version: z.string(), chainId: z.number().int().positive(), salt: hex32Schema }),
  /** The address whose signature makes an assignment genuine (the edge's audit key, not its transaction key). */
  assignmentSigner: addressSchema,
  /** The contract rounds are committed to and epochs anchored in, with validators' operational keys. */
  auditLog: addressSchema,
  nodeStaking: addressSchema,
  chainId: z.number().int().positive(),
  /** Blocks between a round's commitment and the block whose hash seeds it. */
  seedDelayBlocks: z.number().int().positive(),
});
export type AuditDomainInfo = z.infer<typeof auditDomainInfoSchema>;

