// The one clock: with TEST_CLOCK on, advancing it through the admin API moves request handlers, the cron chores
// and the bucket index together; with it off the endpoint does not exist and no request reads the offset.

import { createExecutionContext, createScheduledController, env, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clockOf } from "../../src/clock.ts";
import { configOf } from "../../src/config.ts";
import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { admin, ADMIN_TOKEN, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

const e = env as unknown as Env;
const HOUR = 3600;
let owner: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("clock-owner");
});

afterAll(async () => {
  await admin("DELETE", "/clock");
});

async function indexOf(bucket: string) {
  const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(bucket).first<{ id: string }>();
  return e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(row!.id));
}

async function advance(seconds: number): Promise<{ now: string; offsetSeconds: number }> {
  const res = await admin("POST", "/clock", { advanceSeconds: seconds });
  expect(res.status).toBe(200);
  return res.json();
}

/** An S3 request signed at `at` (the edge refuses signatures more than 15 minutes from its clock). */
async function s3At(at: Date, method: string, path: string): Promise<Response> {
  const datetime = at.toISOString().replace(/[:-]|\.\d{3}/g, "");
  return SELF.fetch(await owner.s3.sign(`${EDGE}${path}`, { method, aws: { datetime } }));
}

describe("test clock", () => {
  it("moves handlers, the lifecycle chore and the bucket index together", async () => {
    expect((await s3(owner, "PUT", "/clock-uploads")).status).toBe(200);
    const uploadId = xmlField(await (await s3(owner, "POST", "/clock-uploads/big?uploads")).text(), "UploadId")!;
    const index = await indexOf("clock-uploads");
    const abandonAfterSeconds = configOf(e).multipartAbandonAfterMs / 1000;

    // An hour short of the abandon age: the chore, run at the edge's time, leaves the upload alone.
    const before = await advance(abandonAfterSeconds - HOUR);
    expect(before.offsetSeconds).toBe(abandonAfterSeconds - HOUR);
    expect(Date.parse(before.now) - Date.now()).toBeGreaterThan((abandonAfterSeconds - 2 * HOUR) * 1000);
    const early = await admin("POST", "/chores/bucket-lifecycle/run");
    expect(((await early.json()) as { abortedUploads: number }).abortedUploads).toBe(0);
    expect(await index.getUpload(uploadId)).not.toBeNull();

    // Handlers judge signatures by the same clock: one signed at real time is now days old.
    const stale = await s3(owner, "GET", "/clock-uploads?uploads");
    expect(stale.status).toBe(403);
    expect(xmlField(await stale.text(), "Code")).toBe("RequestTimeTooSkewed");
    // An upload started now is initiated at the edge's time, as the bucket index records it.
    const edgeNow = new Date(Date.parse((await (await admin("GET", "/clock")).json() as { now: string }).now));
    const fresh = await s3At(edgeNow, "POST", "/clock-uploads/small?uploads");
    expect(fresh.status).toBe(200);
    const freshId = xmlField(await fresh.text(), "UploadId")!;
    expect(Math.abs((await index.getUpload(freshId))!.initiated - edgeNow.getTime())).toBeLessThan(60_000);

    // Two more hours, and the cron tick (scheduledTime is real time; the clock adds its offset) aborts the old
    // upload and keeps the one started at the edge's time.
    await advance(2 * HOUR);
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), e);
    expect(await index.getUpload(uploadId)).toBeNull();
    expect(await index.getUpload(freshId)).not.toBeNull();
  });

  it("refuses anything but moving forward by a bounded number of whole seconds", async () => {
    for (const body of [{ advanceSeconds: -1 }, { advanceSeconds: 1.5 }, { advanceSeconds: 1e12 }, {}]) {
      expect((await admin("POST", "/clock", body)).status).toBe(400);
    }
    const anonymous = await SELF.fetch(`${EDGE}/api/v1/admin/clock`, { method: "POST", body: JSON.stringify({ advanceSeconds: 1 }) });
    expect(anonymous.status).toBe(401);
  });

  it("does not exist when TEST_CLOCK is off, and then reads no offset", async () => {
    const off = { ...e, TEST_CLOCK: "false" } as Env;
    for (const method of ["GET", "POST", "DELETE"]) {
      const request = new Request(`${EDGE}/api/v1/admin/clock`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: method === "POST" ? JSON.stringify({ advanceSeconds: 3600 }) : undefined,
      });
      const res = await worker.fetch(request, off, createExecutionContext());
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("NotFound");
    }
    // Real time without touching D1: a database that fails on any use is never asked.
    const noDb = { ...off, DB: new Proxy({}, { get: () => { throw new Error("D1 was read"); } }) } as unknown as Env;
    const clock = await clockOf(noDb);
    expect(clock.offsetMs).toBe(0);
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(1000);
  });
});
