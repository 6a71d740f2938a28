// Public-read buckets, ACLs and CORS: what anonymous callers and browsers may do, and nothing more.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

let owner: TestAccount;
let stranger: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("access-owner");
  stranger = await createAccountWithKey("access-stranger");
});

const anonymous = (method: string, path: string, headers: Record<string, string> = {}, body?: string) => SELF.fetch(`${EDGE}${path}`, { method, headers, body });

describe("public-read buckets", () => {
  it("answers anonymous reads only once the owner makes the bucket public-read", async () => {
    expect((await s3(owner, "PUT", "/soon-public")).status).toBe(200);
    const before = await anonymous("GET", "/soon-public?list-type=2");
    expect(before.status).toBe(403);
    expect(xmlField(await before.text(), "Code")).toBe("AccessDenied");

    expect((await s3(owner, "PUT", "/soon-public?acl", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect((await anonymous("GET", "/soon-public?list-type=2")).status).toBe(200);
    expect((await s3(stranger, "GET", "/soon-public?list-type=2")).status).toBe(200);
    const acl = await (await s3(owner, "GET", "/soon-public?acl")).text();
    expect(acl).toContain("http://acs.amazonaws.com/groups/global/AllUsers");
    expect(acl).toContain("<Permission>READ</Permission>");
  });

  it("never lets anonymous callers or strangers write, delete or reconfigure a public bucket", async () => {
    expect((await s3(owner, "PUT", "/public-at-birth", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect((await anonymous("GET", "/public-at-birth?list-type=2")).status).toBe(200);
    for (const [method, path] of [
      ["PUT", "/public-at-birth/new-object"],
      ["DELETE", "/public-at-birth/new-object"],
      ["DELETE", "/public-at-birth"],
      ["PUT", "/public-at-birth?acl"],
      ["GET", "/public-at-birth?acl"],
    ] as const) {
      expect((await anonymous(method, path, {}, method === "PUT" ? "x" : undefined)).status, `anonymous ${method} ${path}`).toBe(403);
      expect((await s3(stranger, method, path, method === "PUT" ? { body: "x" } : {})).status, `stranger ${method} ${path}`).toBe(403);
    }
    expect((await anonymous("GET", "/")).status, "anonymous ListBuckets").toBe(403);
    // Back to private: anonymous reads stop.
    await s3(owner, "PUT", "/public-at-birth?acl", { headers: { "x-amz-acl": "private" } });
    expect((await anonymous("GET", "/public-at-birth?list-type=2")).status).toBe(403);
  });

  it("refuses canned ACLs it cannot honour with NotImplemented", async () => {
    // aws-exec-read grants Amazon EC2's account, which does not exist here (public-read-write is supported now).
    const res = await s3(owner, "PUT", "/acl-bucket-x", { headers: { "x-amz-acl": "aws-exec-read" } });
    expect(res.status).toBe(501);
    expect((await s3(owner, "HEAD", "/acl-bucket-x")).status).toBe(404);
  });
});

describe("CORS", () => {
  const cors = `<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

  it("refuses preflights until the bucket has CORS rules, then answers them per rule", async () => {
    await s3(owner, "PUT", "/cors-bucket");
    const preflight = (origin: string, method: string) =>
      anonymous("OPTIONS", "/cors-bucket/some/key", { origin, "access-control-request-method": method, "access-control-request-headers": "content-type, x-amz-date" });
    expect((await preflight("https://app.example", "GET")).status).toBe(403);

    expect((await s3(owner, "PUT", "/cors-bucket?cors", { body: cors })).status).toBe(200);
    const ok = await preflight("https://app.example", "PUT");
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(ok.headers.get("access-control-allow-methods")).toBe("GET, PUT");
    expect(ok.headers.get("access-control-allow-headers")).toBe("content-type, x-amz-date");
    expect(ok.headers.get("access-control-max-age")).toBe("600");
    const badOrigin = await preflight("https://evil.example", "GET");
    expect(badOrigin.status).toBe(403);
    expect(xmlField(await badOrigin.text(), "Code")).toBe("AccessForbidden");
    expect((await preflight("https://app.example", "DELETE")).status).toBe(403);
  });

  it("adds CORS headers to actual requests from an allowed origin only", async () => {
    await s3(owner, "PUT", "/cors-actual");
    await s3(owner, "PUT", "/cors-actual?cors", { body: cors });
    const allowed = await s3(owner, "GET", "/cors-actual?list-type=2", { headers: { origin: "https://app.example" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-expose-headers")).toBe("ETag");
    const other = await s3(owner, "GET", "/cors-actual?list-type=2", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("round-trips and deletes the CORS configuration", async () => {
    await s3(owner, "PUT", "/cors-config");
    expect(xmlField(await (await s3(owner, "GET", "/cors-config?cors")).text(), "Code")).toBe("NoSuchCORSConfiguration");
    await s3(owner, "PUT", "/cors-config?cors", { body: cors });
    const got = await (await s3(owner, "GET", "/cors-config?cors")).text();
    expect(got).toContain("<AllowedOrigin>https://app.example</AllowedOrigin>");
    expect((await s3(owner, "DELETE", "/cors-config?cors")).status).toBe(204);
    expect((await s3(owner, "GET", "/cors-config?cors")).status).toBe(404);
    expect(xmlField(await (await s3(owner, "PUT", "/cors-config?cors", { body: "<CORSConfiguration/>" })).text(), "Code")).toBe("MalformedXML");
  });
});
