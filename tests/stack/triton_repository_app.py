"""A real Triton with a model repository in each state the doctor must explain:
`python -m tests.stack.triton_repository_app --http-port P --grpc-port G --metrics-port M --workspace DIR`.

Triton runs in explicit model-control mode (pytriton always does), on 127.0.0.1 only:

  simple_model     bound through pytriton and loaded: ONNX [1,4] float, OUTPUT = 2 * INPUT; dynamic
                   batching with max_queue_size 64 (SIMPLE_QUEUE_CAP), as dev's settings know it
  spare_model      a Python-backend model written into the repository and never loaded: explicit
                   mode loads nothing by itself, someone must call POST .../spare_model/load
  mismatch_model   a Python-backend model serving an ONNX file whose input is [1,4] while its
                   config.pbtxt declares dims [4]; the app asks Triton to load it at start and the
                   load fails. Without an ONNX Runtime backend in pytriton's Triton, the model's
                   initialize() makes the check the ONNX Runtime backend makes (declared dims
                   against the ONNX graph's) and raises, so Triton marks the model UNAVAILABLE
                   with the reason, exactly as it does for a backend's refusal.

Both hand-written models run onnxruntime inside Triton's Python backend stub, with this
interpreter's packages (pytriton puts its environment on the stub's PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path

SIMPLE_QUEUE_CAP = 64

MODEL_PY = '''\
"""Serves model.onnx with onnxruntime; refuses a config whose dims disagree with the graph."""
import json
import os

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        graph = {i.name: list(i.shape) for i in self.session.get_inputs()}
        for tensor in config["input"]:
            declared = [int(d) for d in tensor["dims"]]
            expected = graph.get(tensor["name"])
            if expected is not None and declared != expected:
                raise pb_utils.TritonModelException(
                    f"model '{config['name']}', tensor '{tensor['name']}': the model expects "
                    f"{len(expected)} dimensions (shape {expected}) but the model configuration "
                    f"specifies {len(declared)} dimensions (shape {declared})")

    def execute(self, requests):
        responses = []
        for request in requests:
            values = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy().astype(np.float32)
            (result,) = self.session.run(None, {"INPUT": values.reshape(1, 4)})
            out = pb_utils.Tensor("OUTPUT", result.reshape(values.shape).astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
'''

CONFIG = '''\
name: "{name}"
backend: "python"
max_batch_size: 0
input [ {{ name: "INPUT" data_type: TYPE_FP32 dims: {dims} }} ]
output [ {{ name: "OUTPUT" data_type: TYPE_FP32 dims: {dims} }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
'''


def _ensure_library_path() -> None:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if libdir and libdir not in current.split(":"):
        env = {**os.environ, "LD_LIBRARY_PATH": f"{libdir}:{current}".rstrip(":")}
        os.execve(sys.executable, [sys.executable, "-m", "tests.stack.triton_repository_app", *sys.argv[1:]], env)


def write_python_model(repository: Path, name: str, dims: list[int], onnx_bytes: bytes) -> None:
    model_dir = repository / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "1" / "model.onnx").write_bytes(onnx_bytes)
    (model_dir / "1" / "model.py").write_text(MODEL_PY)
    (model_dir / "config.pbtxt").write_text(CONFIG.format(name=name, dims=json.dumps(dims)))


def request_load(http_port: int, model: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/v2/repository/models/{model}/load", data=b"{}",
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--http-port", "--grpc-port", "--metrics-port"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--workspace", type=Path, required=True)
    args = parser.parse_args()
    _ensure_library_path()

    import numpy as np
    from pytriton.model_config import DynamicBatcher, ModelConfig, QueuePolicy, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonLifecyclePolicy, TritonSecurityConfig

    import onnxruntime

    onnx_bytes = _onnx_model_bytes()
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

    def simple(requests):
        return [{"OUTPUT": session.run(None, {"INPUT": r["INPUT"].astype(np.float32)})[0]} for r in requests]

    config = TritonConfig(
        http_address="127.0.0.1", http_port=args.http_port,
        grpc_address="127.0.0.1", grpc_port=args.grpc_port,
        metrics_address="127.0.0.1", metrics_port=args.metrics_port,
        allow_cpu_metrics=True, metrics_interval_ms=1000,
    )
    with Triton(
        config=config,
        workspace=args.workspace,
        triton_lifecycle_policy=TritonLifecyclePolicy(launch_triton_on_startup=True, local_model_store=True),
        security_config=TritonSecurityConfig(restricted_endpoints=[]),
    ) as triton:
        # Batches of one request ([1, 4]), queued up to the cap the doctor reads back from
        # GET /v2/models/simple_model/config.
        queued = ModelConfig(batching=True, max_batch_size=1,
                             batcher=DynamicBatcher(default_queue_policy=QueuePolicy(max_queue_size=SIMPLE_QUEUE_CAP)))
        triton.bind(model_name="simple_model", infer_func=simple,
                    inputs=[Tensor(name="INPUT", dtype=np.float32, shape=(4,))],
                    outputs=[Tensor(name="OUTPUT", dtype=np.float32, shape=(4,))],
                    config=queued)
        repository = args.workspace / "model-store"
        write_python_model(repository, "spare_model", [1, 4], onnx_bytes)
        write_python_model(repository, "mismatch_model", [4], onnx_bytes)
        status = request_load(args.http_port, "mismatch_model")
        print(f"load mismatch_model: HTTP {status}", flush=True)
        triton.serve()


def _onnx_model_bytes() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("INPUT", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("OUTPUT", TensorProto.FLOAT, [1, 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["INPUT", "two"], ["OUTPUT"])], "double", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


if __name__ == "__main__":
    main()
