/**
 * @module
 * Local development only (packages/edge-api/wrangler.dev.toml): one origin for the two Workers, as a
 * zone's routes give them when deployed — /v2 and below to the inference Worker, everything else to the
 * registry (which answers its own 404s).
 */

interface RouterEnv {
  readonly REGISTRY: Fetcher;
  readonly INFERENCE: Fetcher;
}

export default {
  fetch(request: Request, env: RouterEnv): Promise<Response> {
    const { pathname } = new URL(request.url);
    const worker = pathname === '/v2' || pathname.startsWith('/v2/') ? env.INFERENCE : env.REGISTRY;
    return worker.fetch(request);
  },
} satisfies ExportedHandler<RouterEnv>;
