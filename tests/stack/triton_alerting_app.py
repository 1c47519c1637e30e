"""A real Triton whose model can be made to fail, slow down and queue, for the alerting tests:
`python -m tests.stack.triton_alerting_app --http-port P --grpc-port G --metrics-port M --mode-file F`.

  flaky_model  returns its input; what it does is read from the mode file on every call:
               `ok`, `fail` (raises: Triton counts reason="BACKEND"), or `slow` (1 s per call).
               Dynamic batching with max_batch_size 1 and max_queue_size 4 (QUEUE_CAP): under
               concurrent load the queue fills and Triton answers 503 (counted in no metric).
  idle_model   returns its input; the test stops sending to it to see that silence pages nobody.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from pathlib import Path

QUEUE_CAP = 4


def _ensure_library_path() -> None:
    """As tests/stack/triton_app.py: pytriton's stub needs this interpreter's libpython."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if libdir and libdir not in current.split(":"):
        env = {**os.environ, "LD_LIBRARY_PATH": f"{libdir}:{current}".rstrip(":")}
        os.execve(sys.executable, [sys.executable, "-m", "tests.stack.triton_alerting_app", *sys.argv[1:]], env)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--http-port", "--grpc-port", "--metrics-port"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--mode-file", type=Path, required=True)
    args = parser.parse_args()
    _ensure_library_path()

    import numpy as np
    from pytriton.model_config import DynamicBatcher, ModelConfig, QueuePolicy, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonLifecyclePolicy, TritonSecurityConfig

    def flaky(requests):
        mode = args.mode_file.read_text().strip() if args.mode_file.exists() else "ok"
        if mode == "fail":
            raise ValueError("flaky_model told to fail")
        if mode == "slow":
            time.sleep(1.0)
        return [{"OUTPUT": request["INPUT"]} for request in requests]

    def identity(requests):
        return [{"OUTPUT": request["INPUT"]} for request in requests]

    config = TritonConfig(
        http_address="127.0.0.1", http_port=args.http_port,
        grpc_address="127.0.0.1", grpc_port=args.grpc_port,
        metrics_address="127.0.0.1", metrics_port=args.metrics_port,
        allow_cpu_metrics=True, metrics_interval_ms=1000,
    )
    tensors = dict(
        inputs=[Tensor(name="INPUT", dtype=np.float32, shape=(4,))],
        outputs=[Tensor(name="OUTPUT", dtype=np.float32, shape=(4,))],
    )
    queued = ModelConfig(
        batching=True, max_batch_size=1,
        batcher=DynamicBatcher(default_queue_policy=QueuePolicy(max_queue_size=QUEUE_CAP)),
    )
    with Triton(
        config=config,
        triton_lifecycle_policy=TritonLifecyclePolicy(launch_triton_on_startup=True, local_model_store=True),
        security_config=TritonSecurityConfig(restricted_endpoints=[]),
    ) as triton:
        triton.bind(model_name="flaky_model", infer_func=flaky, config=queued, **tensors)
        triton.bind(model_name="idle_model", infer_func=identity, config=ModelConfig(batching=True, max_batch_size=1),
                    **tensors)
        triton.serve()


if __name__ == "__main__":
    main()
