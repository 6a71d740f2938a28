// Bucket CORS: the configuration document, preflight (OPTIONS) answers, and headers on actual requests.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html

import { S3Error } from "./errors.ts";
import { parseXml, type XmlNode } from "./xml.ts";

export interface CorsRule {
  id?: string;
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
}

const METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"];

export function parseCorsXml(body: string): CorsRule[] {
  const doc = parseXml(body);
  if (!doc || doc.name !== "CORSConfiguration") throw new S3Error("MalformedXML");
  const rules = doc.children
    .filter((c) => c.name === "CORSRule")
    .map((rule): CorsRule => {
      const all = (name: string) => rule.children.filter((c) => c.name === name).map((c) => c.text.trim());
      const maxAge = all("MaxAgeSeconds")[0];
      const parsed: CorsRule = {
        id: all("ID")[0],
        allowedOrigins: all("AllowedOrigin"),
        allowedMethods: all("AllowedMethod"),
        allowedHeaders: all("AllowedHeader"),
        exposeHeaders: all("ExposeHeader"),
        maxAgeSeconds: maxAge === undefined ? undefined : Number(maxAge),
      };
      if (parsed.allowedOrigins.length === 0 || parsed.allowedMethods.length === 0) throw new S3Error("MalformedXML", "Each CORSRule needs an AllowedOrigin and an AllowedMethod.");
      // An AllowedOrigin may hold at most one '*' wildcard, anywhere in it (https://*.example.com):
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManageCorsUsing.html (AllowedOrigin element).
      for (const origin of parsed.allowedOrigins) {
        if (origin.split("*").length > 2) throw new S3Error("InvalidRequest", `AllowedOrigin "${origin}" can not have more than one wildcard.`);
      }
      for (const m of parsed.allowedMethods) {
        if (!METHODS.includes(m)) throw new S3Error("InvalidRequest", `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`);
      }
      if (parsed.maxAgeSeconds !== undefined && !Number.isInteger(parsed.maxAgeSeconds)) throw new S3Error("MalformedXML");
      return parsed;
    });
  if (rules.length === 0 || rules.length > 100) throw new S3Error("MalformedXML", "A CORS configuration holds between 1 and 100 rules.");
  return rules;
}

export function corsXml(rules: CorsRule[]): XmlNode {
  return {
    CORSRule: rules.map((r) => ({
      ID: r.id,
      AllowedHeader: r.allowedHeaders,
      AllowedMethod: r.allowedMethods,
      AllowedOrigin: r.allowedOrigins,
      ExposeHeader: r.exposeHeaders,
      MaxAgeSeconds: r.maxAgeSeconds,
    })),
  };
}

/** Wildcards: a rule value may contain one '*' matching any run of characters (case-insensitive for headers). */
function wildcardMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  const star = p.indexOf("*");
  if (star < 0) return p === v;
  return v.length >= p.length - 1 && v.startsWith(p.slice(0, star)) && v.endsWith(p.slice(star + 1));
}

/** The first rule that allows this origin, method and set of request headers, as S3 evaluates them. */
export function matchCorsRule(rules: CorsRule[], origin: string, method: string, requestHeaders: string[]): CorsRule | undefined {
  return rules.find(
    (r) =>
      r.allowedOrigins.some((o) => wildcardMatch(o, origin, false)) &&
      r.allowedMethods.includes(method) &&
      requestHeaders.every((h) => r.allowedHeaders.some((a) => wildcardMatch(a, h, true))),
  );
}

/** Response headers granting `origin` what `rule` allows. */
export function corsHeaders(rule: CorsRule, origin: string, preflight: boolean, requestHeaders: string[]): Headers {
  const h = new Headers();
  const anyOrigin = rule.allowedOrigins.includes("*");
  h.set("access-control-allow-origin", anyOrigin ? "*" : origin);
  if (!anyOrigin) h.set("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method");
  h.set("access-control-allow-methods", rule.allowedMethods.join(", "));
  if (preflight) {
    if (requestHeaders.length) h.set("access-control-allow-headers", requestHeaders.join(", "));
    if (rule.maxAgeSeconds !== undefined) h.set("access-control-max-age", String(rule.maxAgeSeconds));
  }
  if (rule.exposeHeaders.length) h.set("access-control-expose-headers", rule.exposeHeaders.join(", "));
  if (!anyOrigin) h.set("access-control-allow-credentials", "true");
  return h;
}

export function requestedHeaders(value: string | null): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}
