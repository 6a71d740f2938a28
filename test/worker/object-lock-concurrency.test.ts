// Concurrent Object Lock changes to one version: the bucket index checks and applies each change in one call and
// answers with the lock it replaced, so the access audit log's entries chain exactly (each entry's "before" is the
// lock the previous change left), whatever order the requests reach it in. When the edge read the version once to
// describe it and again to change it, concurrent changes recorded the same "before" and the log lost one.
import { beforeAll, describe, expect, it } from "vitest";
import { base64 } from "../../src/protocol/crypto.ts";
import { recordedChanges } from "./access-audit-helpers.ts";
import { createAccountWithKey, s3, xmlField, type TestAccount } from "./helpers.ts";

const DAY = 86_400_000;
const CONCURRENT = 12;
let owner: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("object-lock-concurrency-owner");
});

async function withMd5(path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  const md5 = base64(new Uint8Array(await crypto.subtle.digest("MD5", new TextEncoder().encode(body))));
  return s3(owner, "PUT", path, { body, headers: { "content-md5": md5, ...headers } });
}

type RetentionEntry = { versionId: string; mode: string; retainUntil: string } | null;
type HoldEntry = { versionId: string; legalHold: boolean };

describe("concurrent Object Lock changes to one version", () => {
  it("PutObjectRetention: every change's recorded before is the lock the one before it left", async () => {
    expect((await s3(owner, "PUT", "/lock-race", { headers: { "x-amz-bucket-object-lock-enabled": "true" } })).status).toBe(200);
    const written = await withMd5("/lock-race/doc", "kept");
    expect(written.status).toBe(200);
    const versionId = written.headers.get("x-amz-version-id")!;
    const start = Math.floor((Date.now() + 30 * DAY) / 1000) * 1000;
    const initial = new Date(start).toISOString();
    expect((await withMd5(`/lock-race/doc?retention&versionId=${versionId}`, retentionXml(start))).status).toBe(200);

    // GOVERNANCE with the owner's bypass: every date is accepted, longer or shorter, in whatever order they land.
    const dates = Array.from({ length: CONCURRENT }, (_, i) => start + (i + 1) * DAY);
    const answers = await Promise.all(
      dates.map((until) => withMd5(`/lock-race/doc?retention&versionId=${versionId}`, retentionXml(until), { "x-amz-bypass-governance-retention": "true" })),
    );
    expect(answers.map((r) => r.status)).toEqual(dates.map(() => 200));

    const final = await s3(owner, "GET", `/lock-race/doc?retention&versionId=${versionId}`);
    const finalUntil = xmlField(await final.text(), "RetainUntilDate")!;
    const changes = (await recordedChanges(owner, ["arn:aws:s3:::lock-race/doc"])).filter((c) => c.action === "PutObjectRetention").slice(1);
    expect(changes).toHaveLength(CONCURRENT);
    const until = (entry: unknown) => new Date((entry as RetentionEntry)!.retainUntil).getTime();
    const befores = changes.map((c) => until(c.before)).sort((a, b) => a - b);
    const afters = changes.map((c) => until(c.after));
    // One sequence from the initial retention to the final one: the befores are the initial date and every applied
    // date but the last, each once.
    const chained = [new Date(initial).getTime(), ...afters.filter((t) => t !== new Date(finalUntil).getTime())].sort((a, b) => a - b);
    expect(befores).toEqual(chained);
    expect(new Set(afters)).toEqual(new Set(dates));
  });

  it("PutObjectLegalHold: holds placed and lifted at once record each transition as it happened", async () => {
    expect((await s3(owner, "PUT", "/hold-race", { headers: { "x-amz-bucket-object-lock-enabled": "true" } })).status).toBe(200);
    const written = await withMd5("/hold-race/doc", "held");
    const versionId = written.headers.get("x-amz-version-id")!;
    const statuses = Array.from({ length: CONCURRENT }, (_, i) => (i % 2 === 0 ? "ON" : "OFF"));
    const answers = await Promise.all(statuses.map((s) => withMd5(`/hold-race/doc?legal-hold&versionId=${versionId}`, `<LegalHold><Status>${s}</Status></LegalHold>`)));
    expect(answers.map((r) => r.status)).toEqual(statuses.map(() => 200));

    const final = xmlField(await (await s3(owner, "GET", `/hold-race/doc?legal-hold&versionId=${versionId}`)).text(), "Status") === "ON";
    const changes = (await recordedChanges(owner, ["arn:aws:s3:::hold-race/doc"])).filter((c) => c.action === "PutObjectLegalHold");
    expect(changes).toHaveLength(CONCURRENT);
    // Applied in some order, the holds form one walk from "no hold" to the final state: every transition that ends
    // in a state is followed by exactly one that starts from it, except the last.
    const count = (side: "before" | "after", on: boolean) => changes.filter((c) => (c[side] as HoldEntry).legalHold === on).length;
    expect(count("before", false)).toBe(count("after", false) + 1 - (final ? 0 : 1));
    expect(count("before", true)).toBe(count("after", true) - (final ? 1 : 0));
  });
});

function retentionXml(until: number): string {
  return `<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>${new Date(until).toISOString()}</RetainUntilDate></Retention>`;
}
