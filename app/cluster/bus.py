"""The bus of a cluster, on Redis: who keeps what, under which key, and the one atomic state change.

    bpv:run:{id}       hash     the run registry: state, reason, worker, epoch, name, config, meta, times
    bpv:live           set      ids of the runs that are queued, running or paused
    bpv:ev:{id}        stream   the run's events, in order: points (every epoch), frame (a new snapshot is in
                                bpv:frame:{id}), state (every transition) — a client resumes from an id
    bpv:frame:{id}     string   the run's newest snapshot frame (docs/protocol.md)
    bpv:cmd:{worker}   stream   commands to one worker (app/worker/wire.py's, as header + body)
    bpv:reply:{node}   stream   the answers (acks) to the commands a web replica sent
    bpv:worker:{id}    string   a worker's heartbeat, expiring after HEARTBEAT_TTL seconds
    bpv:workers        set      the workers that have said hello (the dead are pruned by their heartbeat)

State changes go through ``TRANSITION`` (a Lua script: check the current state against the ones allowed,
set the new one, append the ``state`` event — in one step, whichever replica or worker asks).
"""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..services.lifecycle import ACTIONS, TRANSITIONS, RunState
from ..worker.wire import Message

PREFIX = "bpv:"
HEARTBEAT_TTL = 5  # seconds without a heartbeat before a worker counts as gone
EVENTS_MAXLEN = 20_000  # entries kept per run stream (a few minutes at full speed)
COMMANDS_MAXLEN = 10_000
FINISHED_TTL = 3600  # seconds a finished run's registry entry, events and frame stay in Redis


def run_key(run_id: str) -> str:
    return f"{PREFIX}run:{run_id}"


def events_key(run_id: str) -> str:
    return f"{PREFIX}ev:{run_id}"


def frame_key(run_id: str) -> str:
    return f"{PREFIX}frame:{run_id}"


def commands_key(worker: str) -> str:
    return f"{PREFIX}cmd:{worker}"


def reply_key(node: str) -> str:
    return f"{PREFIX}reply:{node}"


def heartbeat_key(worker: str) -> str:
    return f"{PREFIX}worker:{worker}"


# a connection the broker closed (it restarted) is tried again on a fresh one (the client's own Retry, with
# these errors) before the call fails
RETRY: dict[str, Any] = {"retry_on_error": [RedisConnectionError, RedisTimeoutError]}


LIVE = f"{PREFIX}live"
WORKERS = f"{PREFIX}workers"

TRANSITION = """
-- KEYS: run hash, events stream, live set, frame. ARGV: run id, new state, reason, allowed current states
-- (comma separated), terminal (1/0), now, stream length, seconds a finished run's keys stay. Returns the
-- state before; an error ILLEGAL <state> / NORUN. A finished run's keys expire (PostgreSQL has it all).
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return redis.error_reply('NORUN') end
if cur == ARGV[2] then return cur end
local ok = false
for s in string.gmatch(ARGV[4], '[^,]+') do if s == cur then ok = true end end
if not ok then return redis.error_reply('ILLEGAL ' .. cur) end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[3], 'updated_at', ARGV[6])
if ARGV[5] == '1' then redis.call('SREM', KEYS[3], ARGV[1]) else redis.call('SADD', KEYS[3], ARGV[1]) end
local epoch = redis.call('HGET', KEYS[1], 'epoch') or '0'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'k', 'state', 'state', ARGV[2], 'reason', ARGV[3],
           'epoch', epoch)
if ARGV[5] == '1' then
  for i = 1, 4 do if i ~= 3 then redis.call('EXPIRE', KEYS[i], ARGV[8]) end end
end
return cur
"""

CLAIM = """
-- KEYS: run hash. ARGV: the worker that was hosting it, the worker taking it. 1 if taken, 0 if not.
if redis.call('HGET', KEYS[1], 'worker') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'worker', ARGV[2])
  return 1
end
return 0
"""


def transition_args(run_id: str, state: RunState, reason: str, allowed: tuple[RunState, ...] | None,
                    now: str) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of TRANSITION: to ``state`` from ``allowed`` (default: the lifecycle's own rule)."""
    if allowed is None:
        allowed = tuple(s for s, targets in TRANSITIONS.items() if state in targets)
    return ([run_key(run_id), events_key(run_id), LIVE, frame_key(run_id)],
            [run_id, state.value, reason, ",".join(s.value for s in allowed), "1" if state.terminal else "0",
             now, str(EVENTS_MAXLEN), str(FINISHED_TTL)])


def action_states(action: str) -> tuple[RunState, ...]:
    return ACTIONS[action]


def pack(msg: Message) -> dict[str, bytes]:
    """A command or event as stream fields."""
    return {"h": json.dumps(msg.header, separators=(",", ":"), allow_nan=False).encode(), "b": msg.body}


def unpack(fields: dict[bytes, bytes]) -> Message:
    return Message(json.loads(fields[b"h"]), fields.get(b"b", b""))


def text(fields: dict[bytes, bytes], key: str, default: str = "") -> str:
    value = fields.get(key.encode())
    return value.decode() if value is not None else default


def registry_out(h: dict[bytes, bytes]) -> dict[str, Any]:
    """A registry hash as text fields."""
    return {k.decode(): v.decode() for k, v in h.items()}


TOKEN = f"{PREFIX}token"


def shared_token(url: str, candidate: str) -> str:
    """The token every replica of a cluster uses when none is configured: the first replica's ``candidate``,
    kept in Redis (a login on one replica is good on all of them)."""
    import redis

    r: Any = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        r.set(TOKEN, candidate, nx=True)
        kept = r.get(TOKEN)
    except redis.RedisError:
        return candidate
    return str(kept.decode()) if kept else candidate
