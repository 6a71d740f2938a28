// End to end: the local network gives finance ops what issue 17's scripts rely on. network.json carries the finance
// token and the webhook secret (`finance.token`, `finance.webhookSecret`), the running edge accepts a payment
// signed with that secret exactly as a provider signs it, and the finance token (not the admin token) reads the
// credit back from the trial balance.

import { createHmac, randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

let network: LocalNetwork;
let d: NetworkDescription;

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-finance-e2e-", { nodeCount: 1 }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("finance on the local network", () => {
  it("writes the finance token and webhook secret to network.json, and the edge honours both", async () => {
    const file = network.networkFile;
    const written = JSON.parse(await readFile(file, "utf8")) as NetworkDescription;
    expect(written.finance.token).toMatch(/^[0-9a-f]{48}$/);
    expect(written.finance.webhookSecret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(written.finance.token).not.toBe(written.adminToken);
    expect((await stat(file)).mode & 0o077).toBe(0);

    const event = { id: `evt_${randomBytes(6).toString("hex")}`, type: "payment.succeeded", data: { accountId: d.accounts.default.id, amountMinor: 4321, currency: "USD" } };
    const body = JSON.stringify(event);
    const t = Math.floor(Date.now() / 1000);
    const signature = createHmac("sha256", written.finance.webhookSecret).update(`${t}.${body}`).digest("hex");
    const res = await fetch(`${d.edgeUrl}/api/v1/finance/payments/webhook`, { method: "POST", headers: { "icn-signature": `t=${t},v1=${signature}`, "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: true, duplicate: false });

    const read = (token: string) => fetch(`${d.edgeUrl}/api/v1/finance/ledger/trial-balance`, { headers: { authorization: `Bearer ${token}` } });
    expect((await read(written.adminToken)).status).toBe(401);
    const tb = (await (await read(written.finance.token)).json()) as { balanced: boolean; accounts: { account: string; subaccount: string; balance: string }[] };
    expect(tb.balanced).toBe(true);
    expect(tb.accounts).toContainEqual(expect.objectContaining({ account: "receivables", subaccount: d.accounts.default.id, balance: "-4321" }));
  });
});
