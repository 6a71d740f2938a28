import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin, createAccountWithKey, EDGE, s3 } from "./helpers.ts";

describe("admin API", () => {
  it("refuses requests without the admin token with a JSON error", async () => {
    const res = await SELF.fetch(`${EDGE}/api/v1/admin/nodes`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "Unauthorized" });
  });

  it("creates an account and an access key whose secret is shown once", async () => {
    const account = (await (await admin("POST", "/accounts", { name: "acme" })).json()) as { id: string };
    const created = await admin("POST", `/accounts/${account.id}/keys`);
    expect(created.status).toBe(201);
    const key = (await created.json()) as { accessKeyId: string; secretAccessKey: string };
    expect(key.secretAccessKey).toHaveLength(40);
    const listed = await (await admin("GET", `/accounts/${account.id}/keys`)).text();
    expect(listed).toContain(key.accessKeyId);
    expect(listed).not.toContain(key.secretAccessKey);
  });

  it("answers a malformed body with a zod ValidationError naming the field", async () => {
    const res = await admin("POST", "/accounts", { name: "" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; details: { path: string }[] };
    expect(body.code).toBe("ValidationError");
    expect(body.details[0]?.path).toBe("name");
  });
});

describe("the control API's namespace", () => {
  it("answers an unknown /api/v1 route with a JSON 404 for any method, never as S3 bucket 'api'", async () => {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"]) {
      for (const path of ["/api/v1/nope", "/api/v1/nodes", "/api/v1", "/api/v1/"]) {
        const res = await SELF.fetch(`${EDGE}${path}`, { method, body: method === "GET" || method === "DELETE" ? undefined : "{}" });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.headers.get("content-type"), `${method} ${path}`).toMatch(/^application\/json/);
        expect(await res.json(), `${method} ${path}`).toMatchObject({ code: "NotFound" });
      }
    }
    const head = await SELF.fetch(`${EDGE}/api/v1/nope`, { method: "HEAD" });
    expect(head.status).toBe(404);
  });

  it("answers an S3-signed request under /api/v1 as the control API too", async () => {
    const account = await createAccountWithKey("api-namespace");
    const res = await s3(account, "GET", "/api/v1/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "NotFound" });
  });

  it("still lets a tenant own a bucket named 'api' and reach it path-style outside v1/", async () => {
    const account = await createAccountWithKey("api-bucket-owner");
    expect((await s3(account, "PUT", "/api")).status).toBe(200);
    const listed = await s3(account, "GET", "/api?list-type=2");
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain("<Name>api</Name>");
    const missing = await s3(account, "GET", "/api/readme.txt");
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain("<Code>NoSuchKey</Code>");
  });

  it("leaves every path on a virtual-hosted bucket's host to S3, so keys beginning api/v1/ stay reachable", async () => {
    const account = await createAccountWithKey("api-prefixed-keys");
    expect((await s3(account, "PUT", "/vhost-api-keys")).status).toBe(200);
    for (const path of ["/api/v1/nodes/register", "/api/v1/nope", "/api/v1"]) {
      const signed = await account.s3.sign(`http://vhost-api-keys.localhost${path}`, { method: "GET" });
      const res = await SELF.fetch(signed);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toBe("application/xml");
      expect(await res.text(), path).toContain("<Code>NoSuchKey</Code>");
    }
  });
});
