// Placement: weighted rendezvous hashing with zone and operator diversity, and minimal movement.
import { describe, expect, it } from "vitest";
import { placeableBytes, placePieces, placeReplicas, writeQuorum, type PlacementCandidate } from "../../src/services/placement.ts";

const GiB = 1024 ** 3;

function nodes(count: number, zones: number, operators = count): PlacementCandidate[] {
  return Array.from({ length: count }, (_, i) => ({ id: `node_${String(i).padStart(16, "0")}`, zone: `zone-${i % zones}`, operatorAddress: `0xop${i % operators}`, freeBytes: 100 * GiB, capacityBytes: 1000 * GiB, placedBytes: 0 }));
}

describe("placement", () => {
  it("puts the six pieces of a 4+2 segment on six nodes, at most two per zone, even where zones are uneven", () => {
    // Eight nodes in three zones (3, 3, 2): a zone's outage must never cost more than two pieces.
    const pool = nodes(8, 3);
    for (let i = 0; i < 500; i++) {
      const chosen = placePieces(pool, `segment-${i}`, 1024, 6);
      expect(chosen).toHaveLength(6);
      expect(new Set(chosen.map((n) => n.id)).size).toBe(6);
      const perZone = new Map<string, number>();
      for (const n of chosen) perZone.set(n.zone, (perZone.get(n.zone) ?? 0) + 1);
      expect(Math.max(...perZone.values())).toBe(2);
    }
    // Fewer nodes than pieces: every node once, and no more.
    expect(placePieces(nodes(5, 3), "segment", 1024, 6)).toHaveLength(5);
  });

  it("puts three replicas in three different zones and operators whenever enough exist", () => {
    const pool = nodes(9, 3);
    for (let i = 0; i < 500; i++) {
      const chosen = placeReplicas(pool, `blob-${i}`, 1024, 3);
      expect(chosen).toHaveLength(3);
      expect(new Set(chosen.map((n) => n.zone)).size).toBe(3);
      expect(new Set(chosen.map((n) => n.operatorAddress)).size).toBe(3);
    }
  });

  it("avoids two replicas on one operator's nodes when another operator can take it", () => {
    // Six nodes in three zones, but operators 0 and 1 each run two nodes.
    const pool = nodes(6, 3).map((n, i) => ({ ...n, operatorAddress: i < 4 ? `0xop${i % 2}` : `0xop${i}` }));
    for (let i = 0; i < 300; i++) {
      const chosen = placeReplicas(pool, `blob-${i}`, 1024, 3);
      expect(new Set(chosen.map((n) => n.operatorAddress)).size).toBe(3);
    }
  });

  it("shares a zone only when there are fewer zones than replicas", () => {
    const chosen = placeReplicas(nodes(4, 2), "blob", 1024, 3);
    expect(chosen).toHaveLength(3);
    expect(new Set(chosen.map((n) => n.zone)).size).toBe(2);
  });

  it("moves only the blobs whose winner changed when a node joins or leaves", () => {
    const before = nodes(10, 5);
    const after = [...before, { id: "node_newcomer000000", zone: "zone-9", operatorAddress: "0xnew", freeBytes: 100 * GiB, capacityBytes: 1000 * GiB, placedBytes: 0 }];
    let moved = 0;
    const blobs = 2000;
    for (let i = 0; i < blobs; i++) {
      const a = placeReplicas(before, `blob-${i}`, 1024, 1)[0]!.id;
      const b = placeReplicas(after, `blob-${i}`, 1024, 1)[0]!.id;
      if (a !== b) {
        moved++;
        expect(b).toBe("node_newcomer000000");
      }
    }
    // About 1/11 of the blobs should move to the newcomer, and nothing else moves.
    expect(moved / blobs).toBeGreaterThan(0.05);
    expect(moved / blobs).toBeLessThan(0.14);

    const leaving = before[3]!.id;
    for (let i = 0; i < blobs; i++) {
      const a = placeReplicas(before, `blob-${i}`, 1024, 1)[0]!.id;
      const b = placeReplicas(before.filter((n) => n.id !== leaving), `blob-${i}`, 1024, 1)[0]!.id;
      if (a !== leaving) expect(b).toBe(a);
    }
  });

  it("weights by free capacity and skips nodes without room", () => {
    const pool = [
      { id: "node_big0000000000", zone: "a", operatorAddress: "0x1", freeBytes: 900 * GiB, capacityBytes: 1000 * GiB, placedBytes: 0 },
      { id: "node_small00000000", zone: "b", operatorAddress: "0x2", freeBytes: 100 * GiB, capacityBytes: 1000 * GiB, placedBytes: 0 },
      { id: "node_full00000000", zone: "c", operatorAddress: "0x3", freeBytes: 1024, capacityBytes: 1000 * GiB, placedBytes: 0 },
    ];
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const id = placeReplicas(pool, `blob-${i}`, 4096, 1)[0]!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get("node_full00000000")).toBeUndefined();
    expect(counts.get("node_big0000000000")!).toBeGreaterThan(counts.get("node_small00000000")! * 4);
  });

  it("gives a node that keeps losing data (low reputation) far fewer blobs", () => {
    const pool = [
      { id: "node_trusted000000", zone: "a", operatorAddress: "0x1", freeBytes: 100 * GiB, capacityBytes: 1000 * GiB, placedBytes: 0, reputation: 1 },
      { id: "node_flaky00000000", zone: "b", operatorAddress: "0x2", freeBytes: 100 * GiB, capacityBytes: 1000 * GiB, placedBytes: 0, reputation: 0.1 },
    ];
    let flaky = 0;
    for (let i = 0; i < 2000; i++) if (placeReplicas(pool, `blob-${i}`, 4096, 1)[0]!.id === "node_flaky00000000") flaky++;
    expect(flaky).toBeGreaterThan(50);
    expect(flaky).toBeLessThan(400);
  });

  it("caps what a node says is free by its registered capacity minus what the edge has placed there", () => {
    // A node claiming 2^53 - 1 free bytes on a 100 GiB registration is worth no more than an honest 100 GiB node.
    const pool = [
      { id: "node_honest0000000", zone: "a", operatorAddress: "0x1", freeBytes: 100 * GiB, capacityBytes: 100 * GiB, placedBytes: 0 },
      { id: "node_liar000000000", zone: "b", operatorAddress: "0x2", freeBytes: Number.MAX_SAFE_INTEGER, capacityBytes: 100 * GiB, placedBytes: 0 },
      { id: "node_filled0000000", zone: "c", operatorAddress: "0x3", freeBytes: Number.MAX_SAFE_INTEGER, capacityBytes: 100 * GiB, placedBytes: 100 * GiB },
    ];
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const id = placeReplicas(pool, `blob-${i}`, 4096, 1)[0]!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get("node_filled0000000")).toBeUndefined();
    expect(counts.get("node_liar000000000")!).toBeLessThan(1200);
    expect(counts.get("node_honest0000000")!).toBeGreaterThan(800);
    expect(placeableBytes(pool[1]!)).toBe(100 * GiB);
  });

  it("needs a majority of replicas to acknowledge a write", () => {
    expect([1, 2, 3, 4, 5].map(writeQuorum)).toEqual([1, 2, 2, 3, 3]);
  });
});
