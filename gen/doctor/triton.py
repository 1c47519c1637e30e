"""Step 2, Triton (its HTTP port): live and ready; the repository index with each model's state,
Triton's reason for a model that failed to load and the load call for one never loaded (`--load`
makes it); each ready model's metadata; with `--infer`, one inference per ready model."""

from __future__ import annotations

import re
import time

from gen.doctor.context import Context
from gen.doctor.http import HttpClient, Unreachable
from gen.doctor.result import StepResult, failed, one_line, passed, skipped, warned

# Triton's JSON datatypes and the zero a request carries for each.
_ZERO = {"BOOL": False, "BYTES": ""}
_SHAPE_WORDS = re.compile(r"\b(dims?|dimensions?|shape)\b", re.I)


class TritonClient(HttpClient):
    """Triton's KServe v2 HTTP API."""

    def index(self):
        return self.call("POST", "/v2/repository/index", {})

    def load(self, model: str):
        # A load can take long (weights, warm-up): not the short doctor timeout.
        return self.call("POST", f"/v2/repository/models/{model}/load", {}, timeout=max(self.timeout, 120))

    def metadata(self, model: str):
        return self.call("GET", f"/v2/models/{model}")

    def config(self, model: str):
        return self.call("GET", f"/v2/models/{model}/config")

    def infer(self, model: str, body: dict):
        return self.call("POST", f"/v2/models/{model}/infer", body, timeout=max(self.timeout, 30))


def load_call(url: str, model: str) -> str:
    return f"curl -X POST {url}/v2/repository/models/{model}/load"


def check_live_ready(ctx: Context) -> list[StepResult]:
    url = ctx.triton.url
    try:
        live = ctx.triton.call("GET", "/v2/health/live")
        ready = ctx.triton.call("GET", "/v2/health/ready")
        server = ctx.triton.call("GET", "/v2")
    except Unreachable as exc:
        return [failed("Triton", f"no answer at {url}: {exc}",
                       "is Triton running (kubectl get pods; its log)? --triton-url is its HTTP port, 8000 by default")]
    version = (server.json() or {}).get("version") if server.status == 200 else None
    ctx.facts.triton_version = version
    name = f"Triton {version}" if version else "Triton"
    if live.status != 200:
        return [failed("Triton", f"{name} at {url} is not live (HTTP {live.status})",
                       "the server is shutting down or failed to start: read its log")]
    if ready.status != 200:
        return [warned("Triton", f"{name} at {url} is live but not ready (HTTP {ready.status})",
                       "a model is still loading, or a loaded model is not ready (strict readiness): see the "
                       "model states below")]
    return [passed("Triton", f"{name} at {url} is live and ready")]


def _reason_hint(model: str, reason: str, url: str) -> str:
    if _SHAPE_WORDS.search(reason):
        return (f"the dims in {model}/config.pbtxt must match the model's own tensors (for example [1,4], not [4]; "
                f"with max_batch_size > 0 leave the batch dimension out); fix it, then {load_call(url, model)}")
    if "backend" in reason.lower() and "unable to find" in reason.lower():
        return "the backend named in config.pbtxt is not installed in this Triton image"
    return f"fix the model or its config.pbtxt as the reason says, then {load_call(url, model)}"


def _short_reason(reason: str) -> str:
    """Triton appends the backend's traceback ("At: ..."): the first part is the reason."""
    return one_line(reason.split("\n\nAt:", 1)[0].split("\nAt:", 1)[0])


def check_models(ctx: Context) -> list[StepResult]:
    url = ctx.triton.url
    try:
        answer = ctx.triton.index()
    except Unreachable as exc:
        return [failed("model repository", f"no answer: {exc}")]
    if answer.status in (401, 403):
        return [failed("model repository", f"the repository API refused the request (HTTP {answer.status})",
                       "the model-repository endpoint is restricted (--http-restricted-api): pass its header, or "
                       "read the states with the right access")]
    if answer.status != 200 or not isinstance(answer.json(), list):
        return [failed("model repository", f"the repository index failed: {one_line(answer.error())}")]
    entries = answer.json()
    if not entries:
        return [failed("model repository", "the repository holds no model",
                       "check --model-repository (the path or bucket) and the directory layout <model>/config.pbtxt")]
    results: list[StepResult] = []
    ready: list[str] = []
    for entry in sorted(entries, key=lambda e: e.get("name", "")):
        model = entry.get("name", "?")
        state = entry.get("state") or ""
        reason = entry.get("reason") or ""
        version = f" v{entry['version']}" if entry.get("version") else ""
        obj = f"model {model}"
        if state == "READY":
            ready.append(model)
            results.append(passed(obj, f"{model}{version} READY"))
        elif not state or (state == "UNAVAILABLE" and reason.strip().lower() == "unloaded"):
            why = "unloaded" if state else "in the repository, never loaded"
            if ctx.options.load:
                results.append(_load(ctx, model, why))
                if results[-1].status == "pass":
                    ready.append(model)
            else:
                results.append(warned(obj, f"{model} is {why}: with --model-control-mode=explicit Triton loads "
                                      "nothing by itself", f"{load_call(url, model)} (or gen doctor --load)"))
        elif state == "UNAVAILABLE":
            results.append(failed(obj, f"{model}{version} UNAVAILABLE: {_short_reason(reason)}",
                                  _reason_hint(model, reason, url)))
        elif state in ("LOADING", "UNLOADING"):
            results.append(warned(obj, f"{model}{version} is {state}", "wait, then run the doctor again"))
        else:
            results.append(warned(obj, f"{model}{version} is {state}: {_short_reason(reason)}"))
    ctx.facts.ready_models = ready
    return results


def _load(ctx: Context, model: str, why: str) -> StepResult:
    obj = f"model {model}"
    try:
        answer = ctx.triton.load(model)
    except Unreachable as exc:
        return failed(obj, f"{model} was {why}; the load call got no answer: {exc}")
    if answer.status == 200:
        return passed(obj, f"{model} was {why}; loaded by the doctor in {answer.seconds:.1f}s (--load)")
    reason = answer.error()
    return failed(obj, f"{model} was {why}; the load failed (HTTP {answer.status}): {_short_reason(reason)}",
                  _reason_hint(model, reason, ctx.triton.url))


def _tensors(items) -> str:
    return ", ".join(f"{t.get('name')} {t.get('datatype')} {list(t.get('shape') or [])}" for t in items or [])


def check_metadata(ctx: Context) -> list[StepResult]:
    if not ctx.facts.ready_models:
        return [skipped("model metadata", "no ready model")]
    results = []
    for model in ctx.facts.ready_models:
        try:
            answer = ctx.triton.metadata(model)
        except Unreachable as exc:
            results.append(failed(f"model {model}", f"metadata: no answer: {exc}"))
            continue
        body = answer.json()
        if answer.status != 200 or not isinstance(body, dict):
            results.append(failed(f"model {model}", f"metadata failed (HTTP {answer.status}): {one_line(answer.error())}"))
            continue
        ctx.facts.model_metadata[model] = body
        results.append(passed(f"model {model}", f"inputs {_tensors(body.get('inputs'))} -> outputs "
                                                f"{_tensors(body.get('outputs'))}"))
    return results


def queue_cap(config: dict) -> int | None:
    """The model's max_queue_size (dynamic_batching.default_queue_policy), None when its queue is
    unbounded (no dynamic batching, or 0). Triton writes 64-bit fields as JSON strings."""
    policy = ((config.get("dynamic_batching") or {}).get("default_queue_policy") or {})
    try:
        cap = int(policy.get("max_queue_size") or 0)
    except (TypeError, ValueError):
        return None
    return cap if cap > 0 else None


def check_queue_caps(ctx: Context) -> list[StepResult]:
    """Each ready model's queue cap against the settings: a full queue answers 503 and moves no
    counter, so the queue-full alert can page only on caps it knows."""
    from gen.settings import queue_caps

    if not ctx.facts.ready_models:
        return [skipped("queue caps", "no ready model")]
    env = ctx.env
    results: list[StepResult] = []
    found: dict[str, int] = {}
    for model in ctx.facts.ready_models:
        obj = f"model {model}"
        try:
            answer = ctx.triton.config(model)
        except Unreachable as exc:
            results.append(failed(obj, f"configuration: no answer: {exc}"))
            continue
        body = answer.json()
        if answer.status != 200 or not isinstance(body, dict):
            results.append(warned(obj, f"configuration not readable (HTTP {answer.status}): {one_line(answer.error())}",
                                  f"set models.{model}.max_queue_size in the settings by hand"))
            continue
        cap = queue_cap(body)
        known = env.model(model).max_queue_size
        if cap is None:
            if known:
                results.append(warned(obj, f"queue unbounded in Triton (no max_queue_size), but the settings say {known}",
                                      f"remove models.{model}.max_queue_size, or set the cap in config.pbtxt"))
            else:
                results.append(passed(obj, "queue unbounded (no max_queue_size): a full queue cannot refuse requests; "
                                           "the backlog alerts watch it"))
            continue
        found[model] = cap
        if known == cap:
            results.append(passed(obj, f"max_queue_size {cap}, as the settings know it: the queue-full alert pages"))
        elif known:
            results.append(warned(obj, f"max_queue_size {cap} in Triton, {known} in the settings",
                                  f"set models.{model}.max_queue_size to {cap}"))
        elif ctx.options.write_queue_caps and env.queue_caps_file:
            results.append(passed(obj, f"max_queue_size {cap}: written to {env.queue_caps_file}"))
        else:
            results.append(warned(obj, f"max_queue_size {cap}, unknown to the settings: a full queue (HTTP 503, "
                                       "counted by no metric) alerts nothing",
                                  "gen doctor --write-queue-caps (then gen build), or set "
                                  f"models.{model}.max_queue_size"))
    if ctx.options.write_queue_caps:
        if not env.queue_caps_file:
            results.append(failed("queue caps file", "--write-queue-caps: the settings name no queue_caps_file",
                                  "add queue_caps_file: queue-caps.yaml to the settings' defaults"))
        else:
            # What Triton says, for every model with a cap; a cap under `models:` still wins.
            queue_caps.write(ctx.settings.root / env.queue_caps_file, env.name, found)
    return results


def zero_request(metadata: dict) -> dict:
    """An inference request of zeros of the right shape and type; a variable dimension (-1) is 1."""
    inputs = []
    for tensor in metadata.get("inputs") or []:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in tensor.get("shape") or []]
        count = 1
        for d in shape:
            count *= d
        datatype = tensor.get("datatype", "FP32")
        inputs.append({"name": tensor.get("name"), "shape": shape, "datatype": datatype,
                       "data": [_ZERO.get(datatype, 0)] * count})
    return {"inputs": inputs}


def check_infer(ctx: Context) -> list[StepResult]:
    if not ctx.options.infer:
        return [skipped("inference", "not asked", "pass --infer to send one request of zeros per ready model")]
    if not ctx.facts.model_metadata:
        return [skipped("inference", "no ready model with metadata")]
    results = []
    for model, metadata in ctx.facts.model_metadata.items():
        obj = f"model {model}"
        try:
            started = time.monotonic()
            answer = ctx.triton.infer(model, zero_request(metadata))
        except Unreachable as exc:
            results.append(failed(obj, f"inference: no answer: {exc}"))
            continue
        ms = (time.monotonic() - started) * 1000
        ctx.facts.inferred[model] = answer.status == 200
        if answer.status == 200:
            results.append(passed(obj, f"inference of zeros: HTTP 200 in {ms:.0f} ms"))
        else:
            results.append(failed(obj, f"inference of zeros: HTTP {answer.status} in {ms:.0f} ms: "
                                       f"{one_line(answer.error())}",
                                  "the model runs but refuses zeros or fails inside: read Triton's log "
                                  "(a 500 is counted in nv_inference_request_failure)"))
    return results
