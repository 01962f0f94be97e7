/**
 * The starter config `switchyard init` writes: runnable as it is (two built-in demo
 * upstreams), every section commented, and accepted by `switchyard --check`.
 */
export const STARTER_CONFIG = `# switchyard: a blue-green and canary reverse proxy.
#   switchyard --check --config FILE    validate this file
#   switchyard --config FILE            run it; then in another terminal:
#   curl localhost:8080                 v1 (blue) or v2 (green): 10 % of users see green
#   switchyard status                   the split, window stats, targets
#   switchyard split 50                 half of the users on green
# Durations take 500ms, 30s, 5m, 1h, 1d or an integer of milliseconds. Unknown keys are
# errors, so a typo never goes unnoticed. The README's "Config reference" has every key.

proxy: { host: 0.0.0.0, port: 8080 }      # where clients connect

# The admin API (and the switchyard CLI's default --url, http://127.0.0.1:9090). A token is
# optional on loopback only: on any other address set one, e.g. through the environment
# (SWITCHYARD_ADMIN_TOKEN overrides admin.token; the CLI sends the same variable).
admin: { host: 127.0.0.1, port: 9090 }

# blue is the live release, green the new one; each colour has one or more targets,
# balanced round-robin. Point them at your services, and remove "demo" below.
upstreams:
  blue:  { targets: ["http://127.0.0.1:3001"] }
  green: { targets: ["http://127.0.0.1:3002"] }

# Two built-in demo upstreams on these ports: blue answers v1, green answers v2.
demo: { blue: 3001, green: 3002 }

# Green's share of new users at the very first start; afterwards the live split is kept
# in the state file (below) and changed with "switchyard split", rollouts and reverts.
split: { green: 10 }

# Each user stays on one colour: the first key present wins, else a cookie is assigned.
sticky:
  keys: ["header:x-user-id"]
  cookie: sy_sid

# QA and testers can force a colour per request: curl -H 'x-switchyard-color: green' ...
override: { header: x-switchyard-color }

# Green goes back to 0 % by itself when it fails more than blue (the sequential test in the
# README's "How a decision is made"), or more than this ceiling over the window.
autoRevert:
  enabled: true
  window: 30s
  maxErrorRate: 0.05

# Defaults of "switchyard rollout start" and "switchyard release": green 10, 20, ... 100 %,
# each step held for the interval and judged against blue before the next.
rollout:
  stepWeight: 10
  interval: 1m
  analysis:
    minRequests: 50                # green requests a step must serve before it can pass

# Shadow traffic: a share of blue's requests also goes to green (marked x-switchyard-shadow: 1)
# and the answers are compared; the client always gets blue's. "switchyard mirror set 10" turns
# it on live; "switchyard mirror report" shows where green differs.
mirror:
  methods: [GET, HEAD, OPTIONS]    # only requests green may safely answer twice
  compare: { mode: json, ignore: ["$..timestamp"] }   # JSON paths that differ by nature

# Active health checks of every target (off while path is "").
healthCheck: { path: "", interval: 5s }

# Where the live split, the rollout and the audit log survive restarts (relative to the
# directory switchyard starts in). For several replicas, share them through Redis instead:
#   state: { redis: { url: "redis://127.0.0.1:6379/0" } }
state: { file: var/state.json }

timeouts: { connect: 5s, request: 300s, idle: 0 }   # request: until the upstream's headers
# upstreamKeepAlive (default 4s): how long an idle upstream connection is kept; set it under the
# upstream's own idle timeout when that is shorter (Gunicorn: 2s, so 1s), 0 for a connection a request.
drain: { deadline: 30s }            # streams and WebSockets of a colour sent to 0 get this long
# Logs on stdout: readable lines on a terminal, JSON lines otherwise (format: pretty|json forces
# one); access: one line per request, with its x-request-id.
log: { level: info, format: auto, access: false }
`
