// One error model: every error the edge throws on purpose is an EdgeError with a stable code, and the JSON
// surface maps them in one place (src/api/error-response.ts); the S3 surface in src/s3/handler.ts.

import { describe, expect, it } from "vitest";
import { toApiError } from "../../src/api/error-response.ts";
import { ApiError } from "../../src/api/errors.ts";
import { ChainConfigError, ChainError, ChainTransactionError } from "../../src/chain/errors.ts";
import { ConfigError } from "../../src/config.ts";
import { EdgeError } from "../../src/protocol/errors.ts";
import { SigV4Error } from "../../src/protocol/sigv4.ts";
import { S3Error } from "../../src/s3/errors.ts";
import { NoCapacityError } from "../../src/services/blob-storage.ts";
import { CiphertextIntegrityError, KeyUnwrapError, MasterKeyRingError } from "../../src/services/crypto/errors.ts";
import { KmsError } from "../../src/services/kms.ts";
import { NodeRequestError } from "../../src/services/node-client.ts";

describe("error model", () => {
  it("gives every error class one root with a code, a message and details", () => {
    const errors: [EdgeError, string][] = [
      [new S3Error("NoSuchKey", undefined, { Key: "k" }), "NoSuchKey"],
      [new ApiError(404, "NoSuchNode", "gone"), "NoSuchNode"],
      [new KmsError("NotFound", "no key"), "NotFound"],
      [new SigV4Error("SignatureDoesNotMatch", "bad", { StringToSign: "x" }), "SignatureDoesNotMatch"],
      [new ChainError("rpc down"), "ChainUnavailable"],
      [new ChainConfigError("bad address"), "ChainConfigInvalid"],
      [new ChainTransactionError("refused", { functionName: "slash" }), "ChainTransactionRefused"],
      [new CiphertextIntegrityError("tag", "bad tag", 3), "CiphertextIntegrity"],
      [new KeyUnwrapError("nope"), "KeyUnwrap"],
      [new MasterKeyRingError("bad ring"), "MasterKeyRingInvalid"],
      [new NodeRequestError("n1", 503, "busy"), "NodeRequestFailed"],
      [new NoCapacityError(10, 2), "NoCapacity"],
      [new ConfigError("bad", { issues: [] }), "ConfigInvalid"],
    ];
    for (const [error, code] of errors) {
      expect(error).toBeInstanceOf(EdgeError);
      expect(error.code).toBe(code);
      expect(error.message).not.toBe("");
    }
    expect(new S3Error("NoSuchKey", undefined, { Key: "k" }).fields).toEqual({ Key: "k" });
    expect(new CiphertextIntegrityError("tag", "bad tag", 3).details).toEqual({ reason: "tag", chunk: 3 });
    expect(new ChainError("rpc down", { details: "timeout" }).message).toBe("rpc down\n\nDetails: timeout");
  });

  it("maps domain errors to the JSON codes clients already see, and hides the rest", () => {
    const sig = toApiError(new SigV4Error("SignatureDoesNotMatch", "bad signature", { CanonicalRequest: "secret-ish" }))!;
    expect([sig.status, sig.code, sig.details]).toEqual([403, "SignatureDoesNotMatch", undefined]);
    expect(toApiError(new KmsError("NotFound", "x"))!.toBody().code).toBe("NoSuchKmsKey");
    expect(toApiError(new KmsError("InvalidState", "x"))!.status).toBe(409);
    expect(toApiError(new KmsError("AliasTaken", "x"))!.code).toBe("AliasTaken");
    expect(toApiError(new ChainError("rpc down", { details: "stack" }))!.toBody()).toEqual({ code: "ChainUnavailable", message: "rpc down" });
    expect(toApiError(new Error("internal"))).toBeUndefined();
    expect(toApiError(new NodeRequestError("n1", 500, "x"))).toBeUndefined();
  });
});
