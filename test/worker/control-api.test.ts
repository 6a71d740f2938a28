import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin, EDGE } from "./helpers.ts";

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
