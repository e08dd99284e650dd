// The human landing page: the invitation URL as text and as an inline SVG QR code. Everything is escaped.
import QRCode from "qrcode";

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** QR code as SVG markup, or null when the text does not fit in a QR code. */
export async function qrSvg(text: string): Promise<string | null> {
  try {
    const svg = await QRCode.toString(text, { type: "svg", errorCorrectionLevel: "L", margin: 2 });
    // The library emits only <svg>/<path> with numeric data; check rather than trust, since it goes in raw.
    if (!svg.startsWith("<svg") || /<script|on[a-z]+=|javascript:/i.test(svg)) return null;
    return svg;
  } catch {
    return null;
  }
}

export function renderHomePage(opts: { did: string; invitationUrl: string; qrSvg: string | null }): string {
  const qr = opts.qrSvg === null
    ? "<p>(The invitation is too long for a QR code; copy the URL below.)</p>"
    : `<div class="qr" role="img" aria-label="QR code of the invitation URL">${opts.qrSvg}</div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Haven DIDComm mediator</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
.qr svg { width: 20rem; height: 20rem; }
code, textarea { font-family: ui-monospace, monospace; word-break: break-all; }
textarea { width: 100%; height: 8rem; }
</style>
</head>
<body>
<h1>Haven DIDComm v2 mediator</h1>
<p>Scan or copy this Out-of-Band invitation with a DIDComm v2 agent to request mediation.</p>
${qr}
<h2>Invitation URL</h2>
<textarea readonly>${escapeHtml(opts.invitationUrl)}</textarea>
<h2>Mediator DID</h2>
<p><code>${escapeHtml(opts.did)}</code></p>
<p>JSON: <a href="/invitation">/invitation</a> &middot; URL: <a href="/invitation?format=url">/invitation?format=url</a></p>
</body>
</html>
`;
}
