"""A real Triton server for the tests: `python -m tests.stack.triton_app --http-port P --grpc-port G
--metrics-port M`. Serves, on 127.0.0.1 only:

  simple_model     an ONNX model (INPUT [1,4] float -> OUTPUT = 2 * INPUT, opset 18) run by onnxruntime
                   inside the bound function; all-negative inputs raise, which Triton counts as a
                   BACKEND failure
  identity_model   numpy, returns its input

pytriton's stub links the system libpython; with another interpreter it needs LD_LIBRARY_PATH to
point at this interpreter's library directory (docs/triton-facts.md), so the app re-executes
itself with it set.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig


def _ensure_library_path() -> None:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if libdir and libdir not in current.split(":"):
        env = {**os.environ, "LD_LIBRARY_PATH": f"{libdir}:{current}".rstrip(":")}
        os.execve(sys.executable, [sys.executable, "-m", "tests.stack.triton_app", *sys.argv[1:]], env)


def _onnx_session():
    import onnxruntime
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("INPUT", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("OUTPUT", TensorProto.FLOAT, [1, 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["INPUT", "two"], ["OUTPUT"])], "double", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--http-port", "--grpc-port", "--metrics-port"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args()
    _ensure_library_path()

    import numpy as np
    from pytriton.model_config import ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonLifecyclePolicy, TritonSecurityConfig

    session = _onnx_session()

    # Without batching, pytriton passes a list of requests, each a mapping of input names to arrays.
    def simple(requests):
        results = []
        for request in requests:
            values = request["INPUT"]
            if (values < 0).all():
                raise ValueError("all inputs negative")
            results.append({"OUTPUT": session.run(None, {"INPUT": values.astype(np.float32)})[0]})
        return results

    def identity(requests):
        return [{"OUTPUT": request["INPUT"]} for request in requests]

    config = TritonConfig(
        http_address="127.0.0.1", http_port=args.http_port,
        grpc_address="127.0.0.1", grpc_port=args.grpc_port,
        metrics_address="127.0.0.1", metrics_port=args.metrics_port,
        allow_cpu_metrics=True, metrics_interval_ms=1000,
        # p50/p90/p99 summaries, so the dashboard's tail-latency panels are proven on a real Triton
        metrics_config=["summary_latencies=true"],
    )
    tensors = dict(
        inputs=[Tensor(name="INPUT", dtype=np.float32, shape=(1, 4))],
        outputs=[Tensor(name="OUTPUT", dtype=np.float32, shape=(1, 4))],
        config=ModelConfig(batching=False),
    )
    with Triton(
        config=config,
        triton_lifecycle_policy=TritonLifecyclePolicy(launch_triton_on_startup=True, local_model_store=True),
        security_config=TritonSecurityConfig(restricted_endpoints=[]),
    ) as triton:
        triton.bind(model_name="simple_model", infer_func=simple, **tensors)
        triton.bind(model_name="identity_model", infer_func=identity, **tensors)
        triton.serve()


if __name__ == "__main__":
    main()
