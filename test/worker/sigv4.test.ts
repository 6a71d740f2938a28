// SigV4 verification against the examples AWS publishes, plus the failures S3 clients must see.
import { describe, expect, it } from "vitest";
import { canonicalRequest, decodeQuery, SigV4Error, verifySigV4, rawPathAndQuery, type SignedRequestParts } from "../../src/protocol/sigv4.ts";

const S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const lookup = (secret: string) => async (id: string) => (id === "AKIAIOSFODNN7EXAMPLE" || id === "AKIDEXAMPLE" ? secret : undefined);

function parts(method: string, url: string, headers: Record<string, string>): SignedRequestParts {
  return { method, ...rawPathAndQuery(url), headers: new Headers(headers) };
}

// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (GET Object example)
const getObjectExample = () =>
  parts("GET", "https://examplebucket.s3.amazonaws.com/test.txt", {
    host: "examplebucket.s3.amazonaws.com",
    range: "bytes=0-9",
    "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "x-amz-date": "20130524T000000Z",
    authorization:
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  });

const at = (iso: string) => ({ now: new Date(iso), regions: ["us-east-1"], service: "s3" });

describe("SigV4 verification", () => {
  it("accepts AWS's documented GET Object header-auth example", async () => {
    const v = await verifySigV4(getObjectExample(), lookup(S3_SECRET), at("2013-05-24T00:05:00Z"));
    expect(v.accessKeyId).toBe("AKIAIOSFODNN7EXAMPLE");
    expect(v.payloadHash).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("accepts AWS's documented presigned URL example until it expires", async () => {
    const url =
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    const request = parts("GET", url, { host: "examplebucket.s3.amazonaws.com" });
    const v = await verifySigV4(request, lookup(S3_SECRET), at("2013-05-24T12:00:00Z"));
    expect(v.presigned).toBe(true);
    await expect(verifySigV4(request, lookup(S3_SECRET), at("2013-05-25T00:00:01Z"))).rejects.toMatchObject({ code: "AccessDenied" });
  });

  it("accepts the SigV4 test suite's get-vanilla request", async () => {
    const request = parts("GET", "https://example.amazonaws.com/", {
      host: "example.amazonaws.com",
      "x-amz-date": "20150830T123600Z",
      authorization:
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    });
    const v = await verifySigV4(request, lookup("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), {
      now: new Date("2015-08-30T12:36:00Z"),
      regions: ["us-east-1"],
      service: "service",
      payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    });
    expect(v.accessKeyId).toBe("AKIDEXAMPLE");
  });

  it("rejects a tampered header with SignatureDoesNotMatch and shows the canonical request", async () => {
    const request = getObjectExample();
    request.headers.set("range", "bytes=0-10");
    const error = (await verifySigV4(request, lookup(S3_SECRET), at("2013-05-24T00:05:00Z")).catch((e) => e)) as SigV4Error;
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.details.CanonicalRequest).toContain("range:bytes=0-10");
  });

  it("rejects a request signed 20 minutes ago with RequestTimeTooSkewed", async () => {
    await expect(verifySigV4(getObjectExample(), lookup(S3_SECRET), at("2013-05-24T00:20:00Z"))).rejects.toMatchObject({ code: "RequestTimeTooSkewed" });
  });

  it("rejects an unknown access key with InvalidAccessKeyId", async () => {
    await expect(verifySigV4(getObjectExample(), async () => undefined, at("2013-05-24T00:05:00Z"))).rejects.toMatchObject({ code: "InvalidAccessKeyId" });
  });

  it("rejects a scope for another region with AuthorizationHeaderMalformed", async () => {
    await expect(
      verifySigV4(getObjectExample(), lookup(S3_SECRET), { ...at("2013-05-24T00:05:00Z"), regions: ["eu-west-1"] }),
    ).rejects.toMatchObject({ code: "AuthorizationHeaderMalformed" });
  });

  it("rejects presigned URLs valid for more than seven days", async () => {
    const url =
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    await expect(verifySigV4(parts("GET", url, { host: "examplebucket.s3.amazonaws.com" }), lookup(S3_SECRET), at("2013-05-24T00:00:00Z"))).rejects.toMatchObject({
      code: "AuthorizationQueryParametersError",
    });
  });
});

describe("SigV4 canonical query", () => {
  const canonicalQueryOf = (url: string) =>
    canonicalRequest(parts("GET", url, { host: "h" }), { signedHeaders: ["host"], payloadHash: "UNSIGNED-PAYLOAD", presigned: false }).split("\n")[2];

  it("decodes the query once as routing does: '+' is a space, '%2B' a plus", () => {
    expect(decodeQuery("prefix=a+b&x=a%2Bb&flag&=v&&k=%E2%9C%93")).toEqual([
      ["prefix", "a b"],
      ["x", "a+b"],
      ["flag", ""],
      ["", "v"],
      ["k", "✓"],
    ]);
    expect(Object.fromEntries(new URLSearchParams(decodeQuery("prefix=a+b&x=a%2Bb")!))).toEqual(Object.fromEntries(new URLSearchParams("prefix=a+b&x=a%2Bb")));
  });

  it("signs '+' and '%2B' differently, and a space the same however it was sent", () => {
    expect(canonicalQueryOf("https://h/?prefix=a+b")).toBe("prefix=a%20b");
    expect(canonicalQueryOf("https://h/?prefix=a%20b")).toBe("prefix=a%20b");
    expect(canonicalQueryOf("https://h/?prefix=a%2Bb")).toBe("prefix=a%2Bb");
  });

  it("refuses to sign a query that is not valid percent-encoded UTF-8", () => {
    expect(decodeQuery("prefix=%C3%28")).toBeUndefined();
    expect(decodeQuery("prefix=%ZZ")).toBeUndefined();
    expect(() => canonicalQueryOf("https://h/?prefix=%C3%28")).toThrow(SigV4Error);
  });

  it("reports the signed header names in lowercase", async () => {
    const v = await verifySigV4(getObjectExample(), lookup(S3_SECRET), at("2013-05-24T00:05:00Z"));
    expect(v.signedHeaders).toEqual(["host", "range", "x-amz-content-sha256", "x-amz-date"]);
  });
});
