// GET /invitation (JSON and _oob URL) and the human page with its QR code.
import { afterEach, describe, expect, test } from "bun:test";
import { buildInvitation, invitationUrl, OOB_INVITATION_TYPE, parseInvitationUrl } from "../../src/transport/invitation.ts";
import { escapeHtml } from "../../src/transport/page.ts";
import { startApp, TEST_DID, type Started } from "./helpers.ts";

let s: Started | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("invitation", () => {
  test("GET /invitation is an OOB 2.0 request-mediate invitation from the mediator DID", async () => {
    s = startApp();
    const res = await fetch(s.base + "/invitation");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    const inv = (await res.json()) as Record<string, any>;
    expect(inv.type).toBe(OOB_INVITATION_TYPE);
    expect(inv.type).toBe("https://didcomm.org/out-of-band/2.0/invitation");
    expect(inv.from).toBe(TEST_DID);
    expect(typeof inv.id).toBe("string");
    expect(inv.id.length).toBeGreaterThan(0);
    expect(inv.body.goal_code).toBe("request-mediate");
    expect(typeof inv.body.goal).toBe("string");
    expect(inv.body.accept).toEqual(["didcomm/v2"]);
  });

  test("?format=url round-trips to the same JSON, under PUBLIC_URL", async () => {
    s = startApp();
    const json = await (await fetch(s.base + "/invitation")).json();
    const res = await fetch(s.base + "/invitation?format=url");
    expect(res.status).toBe(200);
    const url = await res.text();
    expect(url).toStartWith("http://127.0.0.1:9999?_oob=");
    expect(parseInvitationUrl(url)).toEqual(json as Record<string, unknown>);
    expect(url).toBe(s.invitation.url);
  });

  test("an unknown format is 400", async () => {
    s = startApp();
    const res = await fetch(s.base + "/invitation?format=xml");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("bad_request");
  });

  test("invitationUrl uses base64url without padding", () => {
    const inv = buildInvitation({ did: "did:example:m", id: "fixed-id" });
    const url = invitationUrl("https://m.example", inv);
    const oob = new URL(url).searchParams.get("_oob")!;
    expect(oob).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(parseInvitationUrl(url)).toEqual(JSON.parse(JSON.stringify(inv)));
  });

  test("parseInvitationUrl refuses URLs without _oob", () => {
    expect(() => parseInvitationUrl("https://m.example/?x=1")).toThrow(RangeError);
  });
});

describe("GET /", () => {
  test("serves HTML with the invitation URL as text and an inline SVG QR code", async () => {
    s = startApp();
    const res = await fetch(s.base + "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain(escapeHtml(s.invitation.url));
    expect(html).toContain("<svg");
    expect(html).toContain(TEST_DID);
    expect(html).not.toContain("<script");
  });

  test("everything from the invitation is escaped", async () => {
    const hostile = 'did:example:"><script>alert(1)</script>';
    s = startApp({ did: hostile });
    const html = await (await fetch(s.base + "/")).text();
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;");
  });

  test("escapeHtml covers the five special characters", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  });
});
