/**
 * @module
 * Edge API (Hono on Cloudflare Workers): model registry, content-addressed weight distribution and
 * CPU fallback inference. A shell until the edge API issue lands; the root wrangler.toml points here.
 */

export {};
