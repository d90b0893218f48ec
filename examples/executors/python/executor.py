#!/usr/bin/env python3
"""A Weft executor written in Python: the agent `reverse`.

It speaks the executor wire protocol of docs/executors.md with nothing but a NATS client
(nats-py), to show that an executor can live outside the repository and in any language:

    steps:
      shout:
        uses: reverse
        with: { text: "${{ event.data.body.text }}" }   # output: { "result": "..." }

The protocol, in the order this file follows it:

1. Registry: every replica writes an entry to the key-value bucket `weft_agents` under
   `reverse.<replica>` (name, version, JSON Schemas of `with` and the output) and refreshes it
   every 10 s; it deletes the key on SIGTERM/SIGINT. Applying a workflow checks `with:` against
   the announced `input_schema`.
2. Tasks: the durable pull consumer `exec-reverse` on stream WEFT_TASKS (filter
   `weft.tasks.reverse`, explicit ack), shared by every replica. While an attempt runs, a
   progress ack (`+WPI`) keeps JetStream from handing it to another replica, and when the step
   has `heartbeat_timeout_ms` heartbeats tell the router the attempt is alive.
3. Cancels: core NATS subject `weft.cancel.reverse`; the named attempt stops if it runs here.
4. Results: one `dev.weft.task.result` CloudEvent with id `result-<attempt_id>` on
   `weft.results.reverse`, published with a JetStream ack *before* the task is acked. A crash in
   between means the task comes again with the same attempt_id; the result id makes the second
   result a duplicate that JetStream drops.

Configuration (environment): NATS_URL (default nats://127.0.0.1:4222),
WEFT_EXECUTOR_CONCURRENCY (attempts at once, default 16).
"""

import asyncio
import base64
import json
import logging
import os
import signal
import socket
import uuid
from datetime import datetime, timezone

import nats
from nats.js import api
from nats.js.errors import BucketNotFoundError, NotFoundError

AGENT = "reverse"
VERSION = "0.1.0"
DESCRIPTION = "Reverse a text (an example executor written in Python)"
SOURCE = f"weft/exec/{AGENT}"  # CloudEvent source of everything this executor publishes

TASKS_STREAM = "WEFT_TASKS"
TASK_SUBJECT = f"weft.tasks.{AGENT}"
RESULT_SUBJECT = f"weft.results.{AGENT}"
CANCEL_SUBJECT = f"weft.cancel.{AGENT}"
CONSUMER = f"exec-{AGENT}"
REGISTRY_BUCKET = "weft_agents"

ACK_WAIT_S = 30.0  # consumer ack_wait; progress acks go out three times as often
MAX_DELIVER = 20
ANNOUNCE_EVERY_S = 10.0
REGISTRY_TTL_S = 30.0  # the bucket's max_age: an entry not refreshed within it disappears
MAX_LOG_LINES = 500
MAX_DELAY_MS = 600_000

# JSON Schema of `with`. Weft checks every step against it when a workflow is applied (400
# naming the line and the field), so keep it strict: unknown fields are refused.
INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ReverseWith",
    "description": "The `with:` of a `uses: reverse` step.",
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "description": "The text to reverse."},
        "delay_ms": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_DELAY_MS,
            "default": 0,
            "description": "Wait this long before answering, in milliseconds (to watch "
            "progress acks, heartbeats and cancels at work).",
        },
    },
}

# JSON Schema of the output (`steps.<id>.output`).
OUTPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ReverseOutput",
    "type": "object",
    "additionalProperties": False,
    "required": ["result"],
    "properties": {"result": {"type": "string", "description": "The text, reversed."}},
}

log = logging.getLogger("weft-exec-reverse")


# ------------------------------------------------------------------------------------ the agent


class StepFailure(Exception):
    """A failed attempt: `code` is one of docs/executors.md's error codes."""

    def __init__(self, code, message, retryable=False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


def parse_with(with_):
    """Check `with` as strictly as the schema says; a mismatch is `bad_input` naming the field.

    Apply-time checks skip values that hold `${{ … }}` expressions, so a step can still bring
    a wrong type here at run time."""
    if not isinstance(with_, dict):
        raise StepFailure("bad_input", f"with: expected an object, got {type_name(with_)}")
    unknown = sorted(set(with_) - set(INPUT_SCHEMA["properties"]))
    if unknown:
        raise StepFailure("bad_input", f"with.{unknown[0]}: unknown field, expected one of "
                                       "`text`, `delay_ms`")
    if "text" not in with_:
        raise StepFailure("bad_input", "with: missing field `text`")
    text = with_["text"]
    if not isinstance(text, str):
        raise StepFailure("bad_input", f"with.text: expected a string, got {type_name(text)}")
    delay_ms = with_.get("delay_ms", 0)
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not 0 <= delay_ms <= MAX_DELAY_MS:
        raise StepFailure("bad_input", f"with.delay_ms: expected an integer from 0 to {MAX_DELAY_MS}")
    return text, delay_ms


def type_name(value):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


async def reverse(text, delay_ms, attempt):
    """The agent's work. Lines given to `attempt.log` travel in the result."""
    attempt.log(f"reversing {len(text)} characters")
    if delay_ms:
        attempt.log(f"waiting {delay_ms} ms first")
        await asyncio.sleep(delay_ms / 1000)  # a cancel or the step's timeout interrupts this
    return {"result": text[::-1]}


# ---------------------------------------------------------------------------- the wire format


def now_rfc3339():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cloud_event(event_id, event_type, subject, data, traceparent=None):
    """A CloudEvent 1.0 in structured JSON mode."""
    event = {
        "specversion": "1.0",
        "id": event_id,
        "type": event_type,
        "source": SOURCE,
        "subject": subject,
        "time": now_rfc3339(),
        "datacontenttype": "application/json",
        "data": data,
    }
    if traceparent:
        event["traceparent"] = traceparent  # the CloudEvents distributed-tracing extension
    return event


def event_data(raw):
    """The JSON `data` of a CloudEvent from the bus (ValueError when it has none)."""
    event = json.loads(raw)
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        raise ValueError("not a CloudEvent 1.0 in structured JSON mode")
    if "data" in event:
        data = event["data"]
        return json.loads(data) if isinstance(data, str) else data
    if "data_base64" in event:
        return json.loads(base64.b64decode(event["data_base64"]))
    raise ValueError(f"event {event.get('id')} carries no data")


# UUIDv5 namespace of weft_events::ids. The Rust bus sets `Nats-Msg-Id` to
# uuid5("message" NUL source NUL id), so a replica in any language dedupes the same way.
WEFT_ID_NAMESPACE = uuid.UUID("5f1e7c2a-9b4d-4e61-8a0f-3c2d1b6e9a47")


def message_id(source, event_id):
    return str(uuid.uuid5(WEFT_ID_NAMESPACE, f"message\0{source}\0{event_id}"))


def child_traceparent(parent):
    """A new span in the trace of the task's `traceparent` (W3C, version 00), or a new trace."""
    parts = (parent or "").split("-")
    hexes = lambda s, n: len(s) == n and all(c in "0123456789abcdef" for c in s)  # noqa: E731
    if len(parts) == 4 and parts[0] == "00" and hexes(parts[1], 32) and hexes(parts[3], 2):
        trace_id, flags = parts[1], parts[3]
    else:
        trace_id, flags = uuid.uuid4().hex, "01"
    return f"00-{trace_id}-{uuid.uuid4().hex[:16]}-{flags}"


class Attempt:
    """One running attempt: the task, its bounded log and why it was stopped, if it was."""

    def __init__(self, task):
        self.task = task
        self.logs = []
        self.logs_dropped = 0
        self.cancel_reason = None

    def log(self, line):
        if len(self.logs) >= MAX_LOG_LINES:
            self.logs_dropped += 1
        else:
            self.logs.append({"at": now_rfc3339(), "line": line[:4096]})


def failed(error):
    return {"failed": {"code": error.code, "message": error.message,
                       "retryable": error.retryable}}


# ------------------------------------------------------------------------------- the executor


class Executor:
    def __init__(self, nc):
        self.nc = nc
        self.js = nc.jetstream()
        self.running = {}  # attempt_id -> (Attempt, asyncio.Task), for cancels
        self.stopping = asyncio.Event()
        self.entry = {
            "name": AGENT,
            "version": VERSION,
            "description": DESCRIPTION,
            "input_schema": INPUT_SCHEMA,
            "output_schema": OUTPUT_SCHEMA,
            "replica": uuid.uuid4().hex,
            "host": os.environ.get("HOSTNAME") or socket.gethostname(),
            "started_at": now_rfc3339(),
            "seen_at": now_rfc3339(),
            "ready": True,
        }

    # --- registry

    async def registry(self):
        """The registry bucket, created (max_age 30 s) when missing."""
        try:
            return await self.js.key_value(REGISTRY_BUCKET)
        except BucketNotFoundError:
            try:
                return await self.js.create_key_value(
                    bucket=REGISTRY_BUCKET, history=1, ttl=REGISTRY_TTL_S,
                    description="Weft agent registry: one entry per live executor replica")
            except Exception:  # another replica created it first
                return await self.js.key_value(REGISTRY_BUCKET)

    async def announce_loop(self, kv):
        """Write this replica's entry now and every 10 s until we stop; then delete it."""
        key = f"{AGENT}.{self.entry['replica']}"
        while not self.stopping.is_set():
            self.entry["seen_at"] = now_rfc3339()
            try:
                await kv.put(key, json.dumps(self.entry).encode())
            except Exception as e:
                log.warning("cannot announce %s (will retry): %s", key, e)
            try:
                await asyncio.wait_for(self.stopping.wait(), ANNOUNCE_EVERY_S)
            except asyncio.TimeoutError:
                pass
        await kv.delete(key)
        log.info("withdrew %s from the registry", key)

    # --- tasks

    async def consumer(self):
        """Bind to (creating if missing) the shared durable consumer `exec-<agent>`."""
        config = api.ConsumerConfig(
            durable_name=CONSUMER,
            filter_subject=TASK_SUBJECT,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_deliver=MAX_DELIVER,
        )
        while not self.stopping.is_set():
            try:
                return await self.js.pull_subscribe(
                    TASK_SUBJECT, durable=CONSUMER, stream=TASKS_STREAM, config=config)
            except NotFoundError:
                # Weft creates its streams when it starts; wait for it.
                log.info("stream %s not found yet; is Weft running?", TASKS_STREAM)
                await asyncio.sleep(1)
        return None

    async def take_tasks(self, sub, concurrency):
        """Fetch one task whenever a slot is free and handle it on its own asyncio task."""
        slots = asyncio.Semaphore(concurrency)
        handlers = set()
        while not self.stopping.is_set():
            await slots.acquire()
            try:
                msgs = await sub.fetch(batch=1, timeout=1)
            except nats.errors.TimeoutError:
                msgs = []
            except Exception as e:
                log.warning("fetch failed: %s", e)
                msgs = []
                await asyncio.sleep(0.5)
            if not msgs:
                slots.release()
                continue
            handler = asyncio.create_task(self.handle(msgs[0]))
            handlers.add(handler)
            handler.add_done_callback(lambda t: (handlers.discard(t), slots.release()))
        # Attempts in flight finish (and publish their results) before we go.
        if handlers:
            await asyncio.wait(handlers, timeout=ACK_WAIT_S)

    async def handle(self, msg):
        """One delivery: run → publish the result (JetStream ack) → ack the task."""
        try:
            task = event_data(msg.data)
            missing = [k for k in ("attempt_id", "execution_id", "step_id") if k not in task]
            if missing:
                raise ValueError(f"not a task: no {missing[0]}")
        except (ValueError, TypeError) as e:
            # It can never be handled. (The Rust runner also copies it to weft.dlq.weft_tasks.)
            log.error("undecodable task dropped: %s", e)
            await msg.term()
            return
        log.info("attempt %s started: %s/%s #%s", task["attempt_id"], task.get("workflow"),
                 task["step_id"], task.get("attempt"))
        attempt = Attempt(task)
        keep_alive = [asyncio.create_task(self.progress_acks(msg))]
        if task.get("heartbeat_timeout_ms"):
            keep_alive.append(asyncio.create_task(self.heartbeats(task)))
        try:
            outcome = await self.run(attempt)
        finally:
            for t in keep_alive:
                t.cancel()
        result = {
            "attempt_id": task["attempt_id"],
            "execution_id": task["execution_id"],
            "step_id": task["step_id"],
            "attempt": task.get("attempt", 1),
            "outcome": outcome,
            "logs": attempt.logs,
            "logs_dropped": attempt.logs_dropped,
        }
        try:
            await self.publish_result(task, result)
        except Exception as e:
            # Not acked: JetStream delivers the task again (same attempt_id) after a second.
            log.warning("cannot publish the result of %s: %s", task["attempt_id"], e)
            await msg.nak(delay=1)
            return
        await msg.ack()
        log.info("attempt %s ended: %s", task["attempt_id"], next(iter(outcome)))

    async def run(self, attempt):
        """Run the agent under the step's timeout and cancels; return the outcome."""
        task = attempt.task
        try:
            text, delay_ms = parse_with(task.get("with"))
        except StepFailure as e:
            return failed(e)
        work = asyncio.create_task(reverse(text, delay_ms, attempt))
        self.running[task["attempt_id"]] = (attempt, work)
        timeout_ms = task.get("timeout_ms")
        try:
            output = await asyncio.wait_for(work, timeout_ms / 1000 if timeout_ms else None)
            return {"succeeded": output}
        except asyncio.TimeoutError:
            attempt.log(f"stopped at the step's timeout ({timeout_ms} ms)")
            return failed(StepFailure("timeout", "the step's timeout ran out", retryable=True))
        except asyncio.CancelledError:
            if attempt.cancel_reason is None:
                raise  # not a Weft cancel: this process is being torn down
            return failed(StepFailure("cancelled", "the attempt was cancelled"))
        except Exception as e:  # the agent broke, not the step
            log.exception("attempt %s failed", task["attempt_id"])
            return failed(StepFailure("internal", f"{type(e).__name__}: {e}"))
        finally:
            self.running.pop(task["attempt_id"], None)

    async def progress_acks(self, msg):
        """`+WPI` more often than ack_wait, so the task stays with this replica."""
        while True:
            await asyncio.sleep(ACK_WAIT_S / 3)
            try:
                await msg.in_progress()
            except Exception as e:
                log.debug("progress ack not sent: %s", e)

    async def heartbeats(self, task):
        """`dev.weft.task.heartbeat` three times per `heartbeat_timeout_ms` while it runs."""
        period_ms = task["heartbeat_timeout_ms"]
        beat = {"attempt_id": task["attempt_id"], "execution_id": task["execution_id"],
                "step_id": task["step_id"], "heartbeat_timeout_ms": period_ms}
        while True:
            await asyncio.sleep(max(period_ms / 3, 100) / 1000)
            event = cloud_event(str(uuid.uuid4()), "dev.weft.task.heartbeat", task["step_id"], beat)
            try:
                await self.publish(RESULT_SUBJECT, event)
            except Exception as e:  # best effort: the next one covers it
                log.debug("heartbeat not sent: %s", e)

    async def publish_result(self, task, result):
        """The result as a CloudEvent that fits in one message: without its logs if needed,
        else a `payload_too_large` failure. Retried briefly: losing it would force a rerun."""
        def event(r):
            return cloud_event(f"result-{task['attempt_id']}", "dev.weft.task.result",
                               task["step_id"], r, child_traceparent(task.get("traceparent")))

        limit = self.nc.max_payload - 1024  # headroom for headers
        ev = event(result)
        size = len(json.dumps(ev).encode())
        if size > limit and result["logs"]:
            result["logs_dropped"] += len(result["logs"])
            result["logs"] = []
            ev = event(result)
        if len(json.dumps(ev).encode()) > limit:
            result["outcome"] = failed(StepFailure(
                "payload_too_large",
                f"the attempt's result is {size} bytes; the bus carries at most {self.nc.max_payload}"))
            ev = event(result)
        delay = 0.1
        for tries_left in range(5, -1, -1):
            try:
                return await self.publish(RESULT_SUBJECT, ev)
            except Exception:
                if not tries_left:
                    raise
                await asyncio.sleep(delay)
                delay *= 2

    async def publish(self, subject, event):
        """Publish a CloudEvent and wait for JetStream's ack."""
        headers = {
            "Nats-Msg-Id": message_id(event["source"], event["id"]),
            "Content-Type": "application/cloudevents+json",
        }
        await self.js.publish(subject, json.dumps(event).encode(), headers=headers)

    # --- cancels

    async def on_cancel(self, msg):
        """`dev.weft.task.cancel` on core NATS: stop the named attempt if it runs here."""
        try:
            cancel = event_data(msg.data)
            attempt_id, reason = cancel["attempt_id"], cancel.get("reason", "cancelled")
        except (ValueError, KeyError, TypeError):
            log.debug("undecodable cancel ignored")
            return
        running = self.running.get(attempt_id)
        if running:
            attempt, work = running
            attempt.cancel_reason = reason
            attempt.log(f"cancelled: {reason}")
            work.cancel()


async def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    concurrency = int(os.environ.get("WEFT_EXECUTOR_CONCURRENCY", "16"))
    nc = await nats.connect(url, name=f"weft-exec-{AGENT}", max_reconnect_attempts=-1)
    executor = Executor(nc)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, executor.stopping.set)

    await nc.subscribe(CANCEL_SUBJECT, cb=executor.on_cancel)  # every replica; no queue group
    sub = await executor.consumer()
    if sub is None:  # stopped before Weft was there
        await nc.close()
        return
    announcer = asyncio.create_task(executor.announce_loop(await executor.registry()))
    log.info("executor for `uses: %s` running on %s (replica %s)", AGENT, url,
             executor.entry["replica"])

    await executor.take_tasks(sub, concurrency)  # until SIGTERM/SIGINT
    await announcer  # deletes the registry entry
    await nc.close()  # every task is settled by now
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
