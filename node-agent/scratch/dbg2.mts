import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
const app = new Hono<{Bindings: any}>();
app.put("/x", async (c) => {
  console.error("handler", c.env.incoming.readableFlowing, c.env.incoming.complete);
  let n = 0;
  for await (const chunk of c.env.incoming) { n += chunk.length; }
  console.error("read", n);
  return c.json({ n });
});
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, async (info) => {
  const r = await fetch(`http://127.0.0.1:${info.port}/x`, { method: "PUT", body: "hello" });
  console.log(r.status, await r.text());
  server.close();
});
