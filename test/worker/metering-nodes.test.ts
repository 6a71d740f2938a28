// Metering what operators and validators are paid by: the bytes each node served (recorded in the read bucket's
// index after a GET, flushed with the bucket's batches, once), the node usage route that shows them by day with the
// node's audits per finance period, and validator assignment counts per finance period (periods can be minutes
// long: day counts would pay a round in every period of its day). The counting on the read path itself runs
// against real nodes in test/e2e/node-egress.test.ts.

import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { clockMs } from "../../src/clock.ts";
import { configOf } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { applyNodeRoundOutcomes, applyValidatorRoundOutcomes, validatorCountsForPeriod, validatorWorkForPeriod } from "../../src/db/reputation.ts";
import { listMeteredBuckets, usageForPeriod, writeUsageBatches } from "../../src/db/usage.ts";
import type { Env } from "../../src/env.ts";
import { randomHex } from "../../src/protocol/crypto.ts";
import { applyRoundOutcomes } from "../../src/services/audit-outcomes.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { periodLocator } from "../../src/services/metering.ts";
import { flushBucketUsage } from "../../workers/cron/usage-flush.ts";
import { createAccountWithKey, EDGE, registerTestNode, s3 } from "./helpers.ts";

const e = env as unknown as Env;
const db = openDb(e.DB);
const HOUR = 3_600_000;
const periodMinutes = e.FINANCE_PERIOD_MINUTES === undefined ? undefined : Number(e.FINANCE_PERIOD_MINUTES);

async function newBucket(name: string) {
  const owner = await createAccountWithKey(name);
  expect((await s3(owner, "PUT", `/${name}`)).status).toBe(200);
  const bucket = (await listMeteredBuckets(db)).find((b) => b.name === name)!;
  return { owner, bucket, index: bucketIndexFor(e, bucket.id) };
}

/** D1's bytes served per node, summed over one bucket's batches. */
async function flushedServed(bucketId: string): Promise<Record<string, number>> {
  const rows = await e.DB.prepare("SELECT node_id, bytes_served FROM node_egress WHERE bucket_id = ?").bind(bucketId).all<{ node_id: string; bytes_served: string }>();
  const out: Record<string, number> = {};
  for (const r of rows.results) out[r.node_id] = (out[r.node_id] ?? 0) + Number(r.bytes_served);
  return out;
}

describe("bytes served per node", () => {
  it("keeps what nodes served in the bucket's index until flushed, and flushes it once even after a crash between D1 and the ack", async () => {
    const { bucket, index } = await newBucket("egress-flush");
    const [a, b] = [`node_${randomHex(8)}a`, `node_${randomHex(8)}b`];
    const t0 = Date.UTC(2034, 6, 7, 8, 0, 0);
    await index.recordNodeEgress(t0, [
      { nodeId: a, bytes: 65_552 },
      { nodeId: b, bytes: 131_104 },
    ]);
    await index.recordNodeEgress(t0 + 1000, [{ nodeId: a, bytes: 16 }]);
    // (The node ids are random: compared as a map, not in an order.)
    expect(new Map((await index.openUsage()).nodeEgress.map((r) => [r.nodeId, r.bytesServed]))).toEqual(
      new Map([
        [a, 65_568],
        [b, 131_104],
      ]),
    );

    // Sealed and written to D1, then the flush dies before the index hears it.
    const sealed = await index.sealUsage(t0 + HOUR);
    expect(sealed).toHaveLength(1);
    await writeUsageBatches(db, bucket, sealed, t0 + HOUR);
    expect((await index.openUsage()).nodeEgress).toEqual([]);

    // More reads meanwhile; the next flush sends the old batch again with the new one, and a second flush nothing.
    await index.recordNodeEgress(t0 + 2 * HOUR, [{ nodeId: b, bytes: 1000 }]);
    expect(await flushBucketUsage(e, db, bucket, t0 + 2 * HOUR)).toBe(2);
    expect(await flushBucketUsage(e, db, bucket, t0 + 3 * HOUR)).toBe(0);
    expect(await flushedServed(bucket.id)).toEqual({ [a]: 65_568, [b]: 132_104 });

    // Settlement reads them per period; a node that only served (holding nothing) is there too.
    const period = await usageForPeriod(db, periodLocator(periodMinutes)(t0).id);
    expect(period.nodes.find((n) => n.nodeId === a)).toEqual({ nodeId: a, heldByteMs: 0n, heldByteHours: 0n, bytesServed: 65_568n });
    const laterPeriod = periodLocator(periodMinutes)(t0 + 2 * HOUR).id;
    const bServed = laterPeriod === period.periodId ? 132_104n : 131_104n;
    expect(period.nodes.find((n) => n.nodeId === b)?.bytesServed).toBe(bServed);
  });

  it("counts a read that ends after its period was sealed in the period still open, never in the one settlement has taken", async () => {
    const { bucket, index } = await newBucket("egress-late");
    const nodeId = `node_${randomHex(8)}c`;
    const periodOf = periodLocator(periodMinutes);
    const started = Date.UTC(2036, 0, 31, 23, 59, 0);
    const sealedAt = periodOf(started).end + 60_000;
    await index.recordNodeEgress(started, [{ nodeId, bytes: 1 }]);
    // The period closes (its usage flushed at sealedAt) while a long GET that started in it is still streaming.
    expect(await flushBucketUsage(e, db, bucket, sealedAt)).toBe(1);
    await index.recordNodeEgress(started, [{ nodeId, bytes: 70_000 }]);
    await flushBucketUsage(e, db, bucket, sealedAt + 1);
    expect((await usageForPeriod(db, periodOf(started).id)).nodes.find((n) => n.nodeId === nodeId)?.bytesServed).toBe(1n);
    expect((await usageForPeriod(db, periodOf(sealedAt).id)).nodes.find((n) => n.nodeId === nodeId)?.bytesServed).toBe(70_000n);
  });

  it("records nothing for a GET no node served (an object kept inline in the index)", async () => {
    const { owner, bucket, index } = await newBucket("egress-inline");
    expect((await s3(owner, "PUT", "/egress-inline/small", { body: "x".repeat(100) })).status).toBe(200);
    expect(await (await s3(owner, "GET", "/egress-inline/small")).text()).toBe("x".repeat(100));
    expect((await index.openUsage()).nodeEgress).toEqual([]);
    await flushBucketUsage(e, db, bucket, await clockMs(e));
    expect(await flushedServed(bucket.id)).toEqual({});
  });
});

describe("the node usage route", () => {
  it("shows an operator the bytes their node served per day and its audits per finance period", async () => {
    const node = await registerTestNode();
    const nodeId = node.m.nodeId;
    const { bucket, index } = await newBucket("egress-route");
    const now = await clockMs(e);
    const day = new Date(now).toISOString().slice(0, 10);
    await index.recordNodeEgress(now, [{ nodeId, bytes: 4242 }]);
    await flushBucketUsage(e, db, bucket, now + 1);
    const params = configOf(e).reputation;
    await applyNodeRoundOutcomes(db, { roundId: `r-${randomHex(4)}`, nodeId, audits: [{ pieceId: "p1", outcome: "pass" }, { pieceId: "p2", outcome: "pass" }], params, now });
    await applyNodeRoundOutcomes(db, { roundId: `r-${randomHex(4)}`, nodeId, audits: [{ pieceId: "p3", outcome: "fail" }], params, now: now + 1 });

    const res = await SELF.fetch(await node.client.sign(`${EDGE}/api/v1/nodes/${nodeId}/usage?from=${day}&to=${day}`, { method: "GET" }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { day: string; bytesServed: string }[]; audits: { periods: { periodId: string; passed: number; failed: number }[] } };
    expect(body.usage).toEqual([expect.objectContaining({ day, bytesServed: "4242" })]);
    const periodIds = [...new Set([now, now + 1].map((t) => periodLocator(periodMinutes)(t).id))];
    expect(body.audits.periods.map((p) => p.periodId)).toEqual(periodIds);
    expect(body.audits.periods.reduce((s, p) => s + p.passed, 0)).toBe(2);
    expect(body.audits.periods.reduce((s, p) => s + p.failed, 0)).toBe(1);
  });
});

describe("validator work per finance period", () => {
  const params = configOf(e).reputation;

  it("counts each round in the period of its close, once, where day counts would pay it in every period of the day", async () => {
    const validator = `0x${randomHex(20)}`;
    // 5-minute periods: 12:04:59.999 and 12:05:00 are in two periods of one day.
    const [late, next] = [Date.UTC(2035, 1, 2, 12, 4, 59, 999), Date.UTC(2035, 1, 2, 12, 5, 0)];
    const apply = (roundId: string, outcomes: ("agreed" | "minority" | "missed")[], now: number) =>
      applyValidatorRoundOutcomes(db, { roundId, validator, outcomes, params, now, periodMinutes: 5 });
    await apply("vp-1", ["agreed", "agreed", "minority"], late);
    await apply("vp-1", ["agreed", "agreed", "minority"], late); // a retried close step
    await apply("vp-2", ["agreed", "missed"], next);

    const first = (await validatorWorkForPeriod(db, "2035-02-02T12:00Z")).filter((w) => w.validator === validator);
    expect(first).toEqual([{ validator, completed: 3, agreed: 2, minority: 1, missed: 0 }]);
    const second = (await validatorWorkForPeriod(db, "2035-02-02T12:05Z")).filter((w) => w.validator === validator);
    expect(second).toEqual([{ validator, completed: 1, agreed: 1, minority: 0, missed: 1 }]);
    expect((await validatorWorkForPeriod(db, "2035-02-02T12:10Z")).some((w) => w.validator === validator)).toBe(false);
    // The day still holds both rounds.
    expect((await validatorCountsForPeriod(db, "2035-02-02", "2035-02-02")).find((c) => c.validator === validator)).toMatchObject({ agreed: 3, completed: 4 });
  });

  it("lists validators of a period sorted by address", async () => {
    const low = `0x0${randomHex(19)}ab`.slice(0, 42);
    const high = `0xf${randomHex(19)}cd`.slice(0, 42);
    const at = Date.UTC(2035, 3, 4, 5, 6, 7);
    await applyValidatorRoundOutcomes(db, { roundId: "vs-1", validator: high, outcomes: ["agreed"], params, now: at, periodMinutes: 1 });
    await applyValidatorRoundOutcomes(db, { roundId: "vs-1", validator: low, outcomes: ["agreed"], params, now: at, periodMinutes: 1 });
    const listed = (await validatorWorkForPeriod(db, "2035-04-04T05:06Z")).map((w) => w.validator);
    expect(listed).toEqual([low, high]);
  });

  it("takes the period length from FINANCE_PERIOD_MINUTES when a closed round's outcomes are applied", async () => {
    const validator = `0x${randomHex(20)}`;
    const at = Date.UTC(2035, 5, 6, 7, 8, 30);
    const minuteEnv = { ...e, FINANCE_PERIOD_MINUTES: "1" } as Env;
    await applyRoundOutcomes(minuteEnv, 987_654, { challenges: [], validators: [{ validator, outcomes: ["agreed", "agreed"] }] }, at);
    expect((await validatorWorkForPeriod(db, "2035-06-06T07:08Z")).find((w) => w.validator === validator)).toMatchObject({ agreed: 2, completed: 2 });
  });
});
