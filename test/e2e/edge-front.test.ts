// The local edge's front proxy: answers Expect: 100-continue at once, drops that header, and passes every request
// and response through byte for byte, across keep-alive requests with fixed-length and chunked bodies.

import { createHash, randomBytes } from "node:crypto";
import { createServer, request, Agent, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEdgeFront, type EdgeFront } from "../../src/localnet/edge-front.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  sha256: string;
  bytes: number;
}

let origin: Server;
let front: EdgeFront;
const seen: Seen[] = [];

beforeAll(async () => {
  // A stand-in for workerd: never answers Expect, echoes what it received as JSON.
  origin = createServer((req, res) => {
    const hash = createHash("sha256");
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    req.on("end", () => {
      const entry = { method: req.method!, url: req.url!, headers: req.headers, sha256: hash.digest("hex"), bytes };
      seen.push(entry);
      const body = req.url === "/big" ? randomBytes(8 * 1024 * 1024) : Buffer.from(JSON.stringify(entry));
      res.writeHead(200, { "content-length": body.length, "x-body-sha256": createHash("sha256").update(body).digest("hex") });
      res.end(req.method === "HEAD" ? undefined : body);
    });
  });
  origin.on("checkContinue", (req, res) => origin.emit("request", req, res)); // like workerd: no 100 from the origin
  // A WebSocket-style upgrade: 101, then every byte echoed back, upper-cased so an echo cannot be the client's own.
  origin.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-seen-url: ${req.url}\r\n\r\n`);
    if (head.length > 0) socket.write(head.toString().toUpperCase());
    socket.on("data", (c: Buffer) => socket.write(c.toString().toUpperCase()));
    socket.on("end", () => socket.destroy());
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", () => r()));
  const port = (origin.address() as { port: number }).port;
  front = await startEdgeFront({ port: 0, upstream: `http://127.0.0.1:${port}` });
});

afterAll(async () => {
  await front?.close();
  await new Promise<void>((r) => origin?.close(() => r()));
});

function send(agent: Agent, method: string, path: string, body: Buffer | undefined, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: Buffer; headers: IncomingHttpHeaders; continued: number | undefined; ms: number }>((resolve, reject) => {
    const started = Date.now();
    let continued: number | undefined;
    const req = request({ host: "127.0.0.1", port: front.port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), headers: res.headers, continued, ms: Date.now() - started }));
    });
    req.on("error", reject);
    if (headers.expect) {
      req.on("continue", () => {
        continued = Date.now() - started;
        req.end(body);
      });
    } else req.end(body);
  });
}

describe("edge front proxy", () => {
  it("answers Expect: 100-continue itself, at once, and the origin never sees the header", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const body = randomBytes(300_000);
    const res = await send(agent, "PUT", "/expect", body, { expect: "100-continue", "content-length": String(body.length) });
    expect(res.status).toBe(200);
    expect(res.continued).toBeDefined();
    expect(res.continued!).toBeLessThan(500);
    const echoed = JSON.parse(res.body.toString()) as Seen;
    expect(echoed.headers.expect).toBeUndefined();
    expect(echoed.sha256).toBe(createHash("sha256").update(body).digest("hex"));
    agent.destroy();
  });

  it("keeps request boundaries across keep-alive requests with fixed-length, chunked and empty bodies", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const bodies = [randomBytes(1), randomBytes(70_000), Buffer.alloc(0), randomBytes(1_000_000)];
    for (const [i, body] of bodies.entries()) {
      const chunked = i % 2 === 1;
      const headers: Record<string, string> = chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(body.length) };
      if (i === 3) headers.expect = "100-continue";
      const res = await send(agent, "POST", `/req-${i}?q=${i}`, body, headers);
      const echoed = JSON.parse(res.body.toString()) as Seen;
      expect(echoed).toMatchObject({ method: "POST", url: `/req-${i}?q=${i}`, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex") });
    }
    // A GET and a HEAD on the same connection, and a large response.
    const big = await send(agent, "GET", "/big", undefined);
    expect(createHash("sha256").update(big.body).digest("hex")).toBe(big.headers["x-body-sha256"]);
    const head = await send(agent, "HEAD", "/head", undefined);
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect((await send(agent, "GET", "/after-head", undefined)).status).toBe(200);
    agent.destroy();
  });

  it("tells the Worker the client's address from the socket, as CF-Connecting-IP, never a copy the client sent", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const res = await send(agent, "GET", "/who", undefined, { "cf-connecting-ip": "203.0.113.9", "mf-original-url": "https://elsewhere.example/who" });
    const echoed = JSON.parse(res.body.toString()) as Seen;
    expect(echoed.headers["cf-connecting-ip"]).toBe("127.0.0.1");
    expect(echoed.headers["mf-original-url"]).toBeUndefined();
    expect(echoed.url).toBe("/who");
    agent.destroy();
  });

  it("keeps /cdn-cgi/ to itself, as Cloudflare's edge does: nobody outside can fire the Worker's scheduled handler", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = seen.length;
    for (const path of ["/cdn-cgi/local/scheduled?cron=*+*+*+*+*", "/cdn-cgi/handler/scheduled"]) {
      expect((await send(agent, "GET", path, undefined)).status, path).toBe(404);
    }
    expect(seen.length).toBe(before);
    expect((await send(agent, "GET", "/cdn-cgix", undefined)).status).toBe(200);
    agent.destroy();
  });

  it("passes a WebSocket upgrade through: the origin's 101, then bytes both ways on the same connection", async () => {
    const upgraded = await new Promise<{ status: number; url: string | undefined; socket: Socket }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: front.port, path: "/ws?x=1", headers: { connection: "Upgrade", upgrade: "websocket" } });
      req.on("upgrade", (res, socket) => resolve({ status: res.statusCode!, url: res.headers["x-seen-url"] as string | undefined, socket }));
      req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on("error", reject);
      req.end();
    });
    expect({ status: upgraded.status, url: upgraded.url }).toEqual({ status: 101, url: "/ws?x=1" });
    const echoed = await new Promise<string>((resolve) => {
      let text = "";
      upgraded.socket.on("data", (c: Buffer) => {
        text += c.toString();
        if (text.length >= 11) resolve(text);
      });
      upgraded.socket.write("hello ");
      setTimeout(() => upgraded.socket.write("again"), 20);
    });
    expect(echoed).toBe("HELLO AGAIN");
    upgraded.socket.destroy();
  });
});
