// Verdicts of a challenge: two thirds of the assigned stake must agree; a failure most validators saw as silence
// is a timeout (retried before it counts); the validators a seed draws are reproducible by anyone.
import { describe, expect, it } from "vitest";
import { validatorOrderFor, type Hex32 } from "../../src/protocol/audit.ts";
import { decideChallenge, isTimeoutReason, type CountedAttestation } from "../../src/services/audit-verdicts.ts";

const att = (validator: string, stake: bigint, verdict: "pass" | "fail", timeout = false): CountedAttestation => ({ validator, stake, verdict, timeout });
const seed = `0x${"11".repeat(32)}` as Hex32;
const piece = `0x${"22".repeat(32)}` as Hex32;

describe("challenge verdicts", () => {
  it("passes or fails only with two thirds of the assigned stake, and is undecided below", () => {
    expect(decideChallenge(300n, [att("a", 100n, "pass"), att("b", 100n, "pass"), att("c", 100n, "fail")])).toEqual({ verdict: "pass", outcome: "pass" });
    expect(decideChallenge(300n, [att("a", 100n, "fail"), att("b", 100n, "fail"), att("c", 100n, "pass")])).toEqual({ verdict: "fail", outcome: "fail" });
    // One validator of three missed: 2 of 3 still pass; 1 of 3 decides nothing.
    expect(decideChallenge(300n, [att("a", 100n, "pass"), att("b", 100n, "pass")]).verdict).toBe("pass");
    expect(decideChallenge(300n, [att("a", 100n, "pass"), att("b", 100n, "fail")])).toEqual({ verdict: "undecided", outcome: "undecided" });
    // Stake, not heads: one large validator outweighs two small ones.
    expect(decideChallenge(400n, [att("big", 300n, "fail"), att("s1", 50n, "pass"), att("s2", 50n, "pass")]).verdict).toBe("fail");
    expect(decideChallenge(0n, []).verdict).toBe("undecided");
  });

  it("calls a failure a timeout when most of the failing stake saw no answer, so the piece is retried", () => {
    expect(decideChallenge(300n, [att("a", 100n, "fail", true), att("b", 100n, "fail", true), att("c", 100n, "fail")]).outcome).toBe("timeout");
    expect(decideChallenge(300n, [att("a", 100n, "fail", true), att("b", 100n, "fail"), att("c", 100n, "fail")]).outcome).toBe("fail");
    expect(isTimeoutReason("timeout after 5000 ms")).toBe(true);
    expect(isTimeoutReason("invalid proof: leaf 3 does not prove against the root")).toBe(false);
    expect(isTimeoutReason(undefined)).toBe(false);
  });

  it("draws validators by stake from the seed: the same order for everyone, each once, heavier ones first more often", async () => {
    const validators = [
      { address: "0x00000000000000000000000000000000000000a1", stake: 100n },
      { address: "0x00000000000000000000000000000000000000b2", stake: 100n },
      { address: "0x00000000000000000000000000000000000000c3", stake: 800n },
      { address: "0x00000000000000000000000000000000000000d4", stake: 0n },
    ];
    const order = await validatorOrderFor(seed, piece, validators);
    expect(await validatorOrderFor(seed, piece, [...validators].reverse())).toEqual(order);
    expect(order.map((v) => v.address).sort()).toEqual(validators.filter((v) => v.stake > 0n).map((v) => v.address).sort());
    let heavyFirst = 0;
    for (let i = 0; i < 200; i++) {
      const p = `0x${i.toString(16).padStart(64, "0")}` as Hex32;
      if ((await validatorOrderFor(seed, p, validators))[0]!.stake === 800n) heavyFirst++;
    }
    // 80% of the stake: drawn first about 160 times in 200 (binomial; far outside chance below 130 or above 185).
    expect(heavyFirst).toBeGreaterThan(130);
    expect(heavyFirst).toBeLessThan(185);
  });
});
