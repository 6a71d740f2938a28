// Every blob request must come from the edge: SigV4 (service "s3", region "icn") signed with the credentials
// the edge issued this node at registration. Checked before the body is read or any file is opened.

import type { HttpBindings } from "@hono/node-server";
import type { MiddlewareHandler } from "hono";
import { NODE_BLOB_SERVICE, NODE_SIGV4_REGION } from "../../src/protocol/node-protocol.ts";
import { hasSigV4, rawPathAndQuery, SigV4Error, UNSIGNED_PAYLOAD, verifySigV4 } from "../../src/protocol/sigv4.ts";
import { AgentError } from "./errors.ts";

/** SigV4 credentials shared with the edge; held in memory only and rotated by every registration. */
export interface NodeCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Under @hono/node-server the raw Node request/response are bindings; under app.request() they are absent. */
export type AgentBindings = Partial<HttpBindings>;

export type AuthVariables = {
  /** The body digest the edge signed, when it signed one instead of UNSIGNED-PAYLOAD. */
  signedPayloadSha256: string | undefined;
};

export interface EdgeSignatureOptions {
  credentials: () => NodeCredentials | undefined;
  now: () => Date;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

export function requireEdgeSignature(options: EdgeSignatureOptions): MiddlewareHandler<{ Bindings: AgentBindings; Variables: AuthVariables }> {
  return async (c, next) => {
    const credentials = options.credentials();
    if (credentials === undefined) {
      throw new AgentError("NotRegistered", "This node has not finished registering with the edge yet.");
    }
    // The request target exactly as sent; c.req.url is rebuilt from it and may be normalized.
    const parts = { method: c.req.method, headers: c.req.raw.headers, ...rawPathAndQuery(c.env?.incoming?.url ?? c.req.url) };
    if (!hasSigV4(parts)) throw new AgentError("AccessDenied", "Requests to a node must be signed by the edge.");

    let payloadHash: string;
    try {
      const verified = await verifySigV4(
        parts,
        async (accessKeyId) => (accessKeyId === credentials.accessKeyId ? credentials.secretAccessKey : undefined),
        { now: options.now(), regions: [NODE_SIGV4_REGION], service: NODE_BLOB_SERVICE },
      );
      payloadHash = verified.payloadHash;
    } catch (error) {
      if (error instanceof SigV4Error) throw new AgentError(error.code, error.message, { details: error.details });
      throw error;
    }

    if (HEX_SHA256.test(payloadHash)) {
      c.set("signedPayloadSha256", payloadHash);
    } else if (payloadHash !== UNSIGNED_PAYLOAD) {
      // aws-chunked (STREAMING-*) bodies would need per-chunk signature checks; the edge never sends them.
      throw new AgentError("InvalidRequest", `Unsupported x-amz-content-sha256 '${payloadHash}': use UNSIGNED-PAYLOAD or the body's SHA-256.`);
    }
    await next();
  };
}
