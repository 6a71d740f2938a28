// The agent's HTTP surface: GET /health, POST /audit/challenges (validators bring storage challenges the edge
// signed; see audit-challenge.ts), and the SigV4-guarded blob API the edge drives
// (PUT/GET/HEAD/DELETE /blobs/:blobId; GET /blobs, POST /blobs/:blobId/replicate and POST /scrub for repair
// and scrub; see src/protocol/node-protocol.ts).

import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { challengeRequestSchema, NODE_CHALLENGE_PATH } from "../../src/protocol/audit.ts";
import {
  BLOB_ID_PATTERN,
  BLOB_SHA256_HEADER,
  blobIdSchema,
  replicateRequestSchema,
  reconstructRequestSchema,
  MERKLE_LEAF_BYTES_HEADER,
  MAX_MERKLE_LEAF_BYTES,
  type BlobListing,
  type BlobPutResponse,
  type ErrorBody,
} from "../../src/protocol/node-protocol.ts";
import type { ChallengeResponder } from "./audit-challenge.ts";
import { requireEdgeSignature, type AgentBindings, type AuthVariables, type NodeCredentials } from "./auth.ts";
import { READ_HIGH_WATER_MARK, type BlobRecord, type BlobStore } from "./blob-store.ts";
import { resolveRange } from "./byte-range.ts";
import { AgentError } from "./errors.ts";
import { silentLogger, type Logger } from "./logger.ts";
import { PerCallerLimiter } from "./rate-limiter.ts";
import { replicateBlob, type ReplicationOptions } from "./replicator.ts";
import { reconstructPiece } from "./reconstructor.ts";
import type { ScrubChore } from "./scrub-chore.ts";

export interface AgentAppOptions {
  store: BlobStore;
  nodeId: string;
  /** Current credentials from the edge; undefined until registration completes (signed routes answer 503). */
  credentials: () => NodeCredentials | undefined;
  /** POST /scrub asks it for a pass. */
  scrub: Pick<ScrubChore, "requestPass">;
  /** Bandwidth cap and timeouts of POST /blobs/:blobId/replicate pulls. */
  replication?: ReplicationOptions;
  /** Answers POST /audit/challenges; without it the node answers none (503). */
  audit?: { responder: ChallengeResponder; callers?: PerCallerLimiter };
  now?: () => Date;
  log?: Logger;
}

/** A challenge request is an assignment of at most 256 indexes and a blob id: a few KiB of JSON. */
const MAX_CHALLENGE_BODY_BYTES = 64 * 1024;
/** Challenges one caller may bring per second, and how long a burst may wait for its turn before being refused. */
const CHALLENGES_PER_SECOND_PER_CALLER = 20;
const CHALLENGE_MAX_WAIT_MS = 2_000;

/** The protocol's page size cap for GET /blobs. */
const MAX_LISTING_LIMIT = 1000;

const listingQuerySchema = z.object({
  after: blobIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LISTING_LIMIT).default(MAX_LISTING_LIMIT),
});

type AgentEnv = { Bindings: AgentBindings; Variables: AuthVariables & { log: Logger } };

export function createAgentApp(options: AgentAppOptions): Hono<AgentEnv> {
  const { store, nodeId } = options;
  const baseLog = options.log ?? silentLogger;
  const app = new Hono<AgentEnv>();

  app.use("*", async (c, next) => {
    const started = performance.now();
    const log = baseLog.child({ requestId: randomBytes(6).toString("hex") });
    c.set("log", log);
    await next();
    if (c.req.path !== "/health") {
      log.info("request", { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) });
    }
  });

  // Registered before the signature check, so it is the one route that answers unsigned.
  app.get("/health", (c) => c.json({ ok: true, nodeId }));

  // Validators call this, not the edge: the edge's signature travels inside the body (the EIP-712 assignment).
  const challengeCallers = options.audit?.callers ?? new PerCallerLimiter(CHALLENGES_PER_SECOND_PER_CALLER, CHALLENGE_MAX_WAIT_MS);
  app.post(
    NODE_CHALLENGE_PATH,
    bodyLimit({
      maxSize: MAX_CHALLENGE_BODY_BYTES,
      onError: () => {
        throw new AgentError("RequestTooLarge", `A challenge request is at most ${MAX_CHALLENGE_BODY_BYTES} bytes.`);
      },
    }),
    async (c) => {
      if (options.audit === undefined) throw new AgentError("AuditDomainUnavailable", "This node does not answer storage challenges.");
      if (!(await challengeCallers.admit(c.env?.incoming?.socket.remoteAddress ?? "unknown"))) {
        throw new AgentError("SlowDown", "Too many challenges from this address; slow down.", { headers: { "retry-after": "1" } });
      }
      const request = challengeRequestSchema.safeParse(safeJson(await c.req.text()));
      if (!request.success) throw new AgentError("InvalidRequest", `Bad challenge request: ${summarize(request.error)}.`);
      return c.json(await options.audit.responder.answer(request.data));
    },
  );

  app.use("*", requireEdgeSignature({ credentials: options.credentials, now: options.now ?? (() => new Date()) }));

  app.put("/blobs/:blobId", async (c) => {
    const blobId = validBlobId(c.req.param("blobId"));
    const declared = c.req.header("content-length");
    if (declared !== undefined && !/^\d+$/.test(declared)) throw new AgentError("InvalidRequest", "Content-Length must be a decimal integer.");
    // Read the Node request directly when there is one: no web-stream conversion on the hot path. Not
    // destroyed on failure, so a 507 or 400 still reaches the edge instead of a connection reset.
    const incoming = c.env?.incoming;
    const body = incoming ? incoming.iterator({ destroyOnReturn: false }) : webBody(c.req.raw.body);
    const leafHeader = c.req.header(MERKLE_LEAF_BYTES_HEADER);
    if (leafHeader !== undefined && !(/^[1-9]\d{0,7}$/.test(leafHeader) && Number(leafHeader) <= MAX_MERKLE_LEAF_BYTES)) {
      throw new AgentError("InvalidRequest", `${MERKLE_LEAF_BYTES_HEADER} must be a leaf size from 1 to ${MAX_MERKLE_LEAF_BYTES} bytes.`);
    }
    let record;
    try {
      record = await store.put(blobId, body, {
        expectedLength: declared === undefined ? undefined : Number(declared),
        expectedSha256: c.get("signedPayloadSha256"),
        ...(leafHeader === undefined ? {} : { merkleLeafBytes: Number(leafHeader) }),
      });
    } catch (error) {
      if (incoming !== undefined && !incoming.complete && !(error instanceof AgentError)) {
        throw new AgentError("IncompleteBody", "The connection closed before the whole body arrived; nothing was stored.");
      }
      throw error;
    }
    return storedBlob(c, record);
  });

  // Hono also routes HEAD here (with c.req.method still "HEAD").
  app.get("/blobs/:blobId", async (c) => {
    const blobId = validBlobId(c.req.param("blobId"));
    const opened = await store.openBlob(blobId);
    if (opened === undefined) throw new AgentError("NoSuchBlob", "The blob does not exist on this node.");
    const { record, file } = opened;
    const headers: Record<string, string> = {
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
      [BLOB_SHA256_HEADER]: record.sha256,
    };
    const resolution = resolveRange(c.req.header("range"), record.size);
    if (resolution.kind === "unsatisfiable") {
      await file.close();
      throw new AgentError("InvalidRange", "The requested range is not satisfiable.", {
        headers: { "content-range": `bytes */${record.size}` },
      });
    }
    const { start, end } = resolution.kind === "partial" ? resolution.range : { start: 0, end: record.size - 1 };
    const length = end - start + 1;
    headers["content-length"] = String(length);
    if (resolution.kind === "partial") headers["content-range"] = `bytes ${start}-${end}/${record.size}`;
    const status = resolution.kind === "partial" ? 206 : 200;

    if (c.req.method === "HEAD" || length === 0) {
      await file.close();
      return c.body(null, status, headers);
    }
    const stream = file.createReadStream({ start, end, highWaterMark: READ_HIGH_WATER_MARK });
    return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, status, headers);
  });

  app.delete("/blobs/:blobId", async (c) => {
    await store.delete(validBlobId(c.req.param("blobId")));
    return c.body(null, 204);
  });

  app.get("/blobs", async (c) => {
    const query = listingQuerySchema.safeParse({ after: c.req.query("after"), limit: c.req.query("limit") });
    if (!query.success) throw new AgentError("InvalidRequest", `Bad listing query: ${summarize(query.error)}.`);
    const page = await store.listBlobs(query.data.after, query.data.limit);
    const listing: BlobListing = {
      blobs: page.blobs.map((r) => ({ blobId: r.blobId, size: r.size, sha256: r.sha256, createdAt: epochMs(r.createdAt) })),
    };
    if (page.next !== undefined) listing.next = page.next;
    return c.json(listing);
  });

  app.post("/blobs/:blobId/replicate", async (c) => {
    const blobId = validBlobId(c.req.param("blobId"));
    const request = await readSignedJson(c, replicateRequestSchema, "replicate");
    return storedBlob(c, await replicateBlob(store, blobId, request, { ...options.replication, log: c.get("log") }));
  });

  app.post("/blobs/:blobId/reconstruct", async (c) => {
    const blobId = validBlobId(c.req.param("blobId"));
    const request = await readSignedJson(c, reconstructRequestSchema, "reconstruct");
    return storedBlob(c, await reconstructPiece(store, blobId, request, { ...options.replication, log: c.get("log") }));
  });

  app.post("/scrub", (c) => {
    const outcome = options.scrub.requestPass();
    if (outcome === "stopped") throw new AgentError("ShuttingDown", "This node is shutting down; it starts no scrub pass.");
    return c.json({ scrub: outcome }, 202);
  });

  app.notFound((c) => errorResponse(c, new AgentError("NotFound", "No such route on this node.")));

  app.onError((error, c) => {
    const log = c.get("log") ?? baseLog;
    const agentError =
      error instanceof AgentError ? error : new AgentError("InternalError", "The node failed to process the request.");
    if (agentError.code === "InternalError") log.error("request_failed", { error });
    else if (agentError.status === 403) log.warn("request_refused", { code: agentError.code, message: agentError.message });
    return errorResponse(c, agentError);
  });

  return app;
}

/** The protocol's JSON error body; HEAD answers carry only the status and headers. */
function errorResponse(c: Context<AgentEnv>, error: AgentError): Response {
  if (c.req.method === "HEAD") return c.body(null, error.status, error.headers);
  const body: ErrorBody = { code: error.code, message: error.message };
  if (error.details !== undefined) body.details = error.details;
  return c.json(body, error.status, error.headers);
}

/** 201 with what the store recorded: the blob's size, SHA-256 and, for a piece, its Merkle root. */
function storedBlob(c: Context<AgentEnv>, record: BlobRecord): Response {
  const response: BlobPutResponse = { blobId: record.blobId, size: record.size, sha256: record.sha256, ...(record.merkleRoot ? { merkleRoot: record.merkleRoot } : {}) };
  return c.json(response, 201, { [BLOB_SHA256_HEADER]: record.sha256 });
}

/** A small JSON request body of the edge's, checked against the SHA-256 it was signed with, then against `schema`. */
async function readSignedJson<T>(c: Context<AgentEnv>, schema: z.ZodType<T>, what: string): Promise<T> {
  const text = await c.req.text();
  const signedSha256 = c.get("signedPayloadSha256");
  if (signedSha256 !== undefined && createHash("sha256").update(text).digest("hex") !== signedSha256) {
    throw new AgentError("XAmzContentSHA256Mismatch", "The body does not match the x-amz-content-sha256 the request was signed with.");
  }
  const request = schema.safeParse(safeJson(text));
  if (!request.success) throw new AgentError("InvalidRequest", `Bad ${what} request: ${summarize(request.error)}.`);
  return request.data;
}

function validBlobId(blobId: string): string {
  if (!BLOB_ID_PATTERN.test(blobId)) throw new AgentError("InvalidBlobId", "Blob ids must match [a-z0-9][a-z0-9_-]{15,127}.");
  return blobId;
}

function summarize(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; ");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Sidecars keep ISO-8601 times; the listing carries milliseconds since the Unix epoch. */
function epochMs(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : 0;
}

function webBody(body: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> {
  return body === null ? Readable.from([]) : Readable.fromWeb(body as NodeReadableStream<Uint8Array>);
}
