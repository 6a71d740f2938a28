// The edge's side of the validator protocol, small enough to read in one go: GET /api/v1/validators/domain and a
// WebSocket at /api/v1/validators/session that says hello, checks the login's EIP-712 signature (it must recover to
// the login's operator and cover the nonce just sent), welcomes, sends assignments signed by an audit key, and
// records every attestation with the address its signature recovers to. Until the real coordinator exists, this
// is what the validator is tested against.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { WebSocketServer, type WebSocket } from "ws";
import {
  assignmentTypedMessage,
  attestationTypedMessage,
  auditTypes,
  loginTypedMessage,
  type Assignment,
  type Attestation,
  type StorageProof,
  type ValidatorLogin,
} from "../../../src/protocol/audit.ts";
import { randomHex } from "../../../src/protocol/crypto.ts";
import { registrationDomain } from "../../../src/protocol/node-protocol.ts";
import {
  VALIDATOR_DOMAIN_PATH,
  VALIDATOR_SESSION_PATH,
  validatorMessageSchema,
  type AuditDomainInfo,
  type CoordinatorMessage,
} from "../../../src/protocol/validator-session.ts";

/** Anvil account 9: stands in for the edge's audit key (never a transaction key). */
export const FAKE_AUDIT_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
export const FAKE_COORDINATOR_EDGE_ID = "edge-validator-test";

export interface RecordedLogin {
  login: ValidatorLogin;
  signature: string;
  /** The address the signature recovers to. */
  signer: string;
  /** The nonce this socket's hello carried. */
  nonce: string;
}

export interface RecordedAttestation {
  attestation: Attestation;
  signature: string;
  evidence: StorageProof | undefined;
  signer: string;
  /** Which connection (0-based, in accept order) carried it. */
  connection: number;
}

export interface FakeCoordinator {
  url: string;
  info: AuditDomainInfo;
  logins: RecordedLogin[];
  attestations: RecordedAttestation[];
  /** Messages the coordinator refused, with why. */
  refused: string[];
  /** Connections accepted so far. */
  connections(): number;
  /** Validators logged in right now. */
  loggedIn(): number;
  /** Whether to ack attestations (default true). */
  autoAck: boolean;
  /** The edge's signature over an assignment, by the audit key unless `key` says otherwise. */
  signAssignment(assignment: Assignment, key?: `0x${string}`): Promise<`0x${string}`>;
  /** Sends to every logged-in validator. */
  send(message: CoordinatorMessage): void;
  /** Cuts every socket without a close handshake, as a crashed edge would. */
  dropAll(): void;
  close(): Promise<void>;
}

/** `port` 0 picks a free one; a fixed port lets a test bring "the edge" back where a validator keeps calling. */
export async function startFakeCoordinator(port = 0): Promise<FakeCoordinator> {
  const domain = await registrationDomain(31337, FAKE_COORDINATOR_EDGE_ID);
  const auditAccount = privateKeyToAccount(FAKE_AUDIT_KEY);
  const info: AuditDomainInfo = {
    domain: { ...domain, salt: domain.salt },
    assignmentSigner: auditAccount.address,
    auditLog: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    nodeStaking: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    chainId: 31337,
    seedDelayBlocks: 2,
  };
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url === VALIDATOR_DOMAIN_PATH) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(info));
      return;
    }
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server, path: VALIDATOR_SESSION_PATH });
  const sockets = new Set<WebSocket>();
  const welcomed = new Set<WebSocket>();
  let accepted = 0;

  const coordinator: FakeCoordinator = {
    url: "",
    info,
    logins: [],
    attestations: [],
    refused: [],
    connections: () => accepted,
    loggedIn: () => welcomed.size,
    autoAck: true,
    signAssignment: (assignment, key) =>
      (key ? privateKeyToAccount(key) : auditAccount).signTypedData({
        domain,
        types: auditTypes,
        primaryType: "ChallengeAssignment",
        message: assignmentTypedMessage(assignment),
      }),
    send: (message) => {
      for (const socket of welcomed) socket.send(JSON.stringify(message));
    },
    dropAll: () => {
      for (const socket of sockets) socket.terminate();
    },
    close: async () => {
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  wss.on("connection", (socket) => {
    const connection = accepted++;
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      welcomed.delete(socket);
    });
    const nonce = `0x${randomHex(32)}`;
    socket.send(JSON.stringify({ type: "hello", nonce } satisfies CoordinatorMessage));
    const refuse = (why: string) => {
      coordinator.refused.push(why);
      socket.send(JSON.stringify({ type: "error", message: why } satisfies CoordinatorMessage));
    };
    socket.on("message", async (data) => {
      const parsed = validatorMessageSchema.safeParse(JSON.parse(data.toString()));
      if (!parsed.success) return refuse(`malformed: ${parsed.error.message}`);
      const message = parsed.data;
      if (message.type === "login") {
        const signer = await recoverTypedDataAddress({
          domain,
          types: auditTypes,
          primaryType: "ValidatorLogin",
          message: loginTypedMessage(message.login),
          signature: message.signature as `0x${string}`,
        });
        coordinator.logins.push({ login: message.login, signature: message.signature, signer, nonce });
        if (message.login.nonce !== nonce || signer.toLowerCase() !== message.login.operator.toLowerCase()) {
          refuse("login signature does not verify");
          socket.close(1008, "login refused");
          return;
        }
        welcomed.add(socket);
        socket.send(JSON.stringify({ type: "welcome", validator: message.login.validator } satisfies CoordinatorMessage));
        return;
      }
      if (!welcomed.has(socket)) return refuse("attestation before login");
      const signer = await recoverTypedDataAddress({
        domain,
        types: auditTypes,
        primaryType: "Attestation",
        message: attestationTypedMessage(message.attestation),
        signature: message.signature as `0x${string}`,
      });
      coordinator.attestations.push({ attestation: message.attestation, signature: message.signature, evidence: message.evidence, signer, connection });
      if (coordinator.autoAck) {
        socket.send(JSON.stringify({ type: "ack", roundId: message.attestation.roundId, pieceId: message.attestation.pieceId } satisfies CoordinatorMessage));
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  coordinator.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return coordinator;
}
