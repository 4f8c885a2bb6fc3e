-- Per-client request counts for the infer endpoint's fixed-window rate limit (src/ratelimit.ts): one row
-- per client and window; a client's first request in a window deletes the windows that have ended.
CREATE TABLE rate_limits (
  key TEXT NOT NULL,            -- token:<id>, ip:<address or /64> or anonymous
  window_start INTEGER NOT NULL, -- unix seconds, a multiple of the window
  count INTEGER NOT NULL,
  PRIMARY KEY (key, window_start)
);

CREATE INDEX rate_limits_window ON rate_limits (window_start);
