"""The bench's PyTorch peer: the project's AlexNet in PyTorch (float32), driven
by the bench worker (bench/peers/torch.ts) one command at a time.

The network is properties/oracle/torch_alexnet.py's `AlexNet` (built from the
layer table: groups of 2, LRN within each tower with PyTorch's alpha/n form
converted from the paper's alpha, explicit dropout masks); tensors come and go
as safetensors files through that module's reader and writer. Nothing of the
model is written twice.

    python3 torch_bench.py COMMANDS REPLIES

COMMANDS and REPLIES are named pipes the worker made. Each command is one JSON
line, each reply one JSON line: {"ok": ...} or {"error": "..."}. The worker
opens both pipes before it starts this process, and this process opens REPLIES
first, before importing torch: if it dies, the worker's read sees the end of
the pipe instead of waiting for ever.

Commands:
  {"op": "load", "file": F, "threads": T, "seed": S}
      the parameters and, in the metadata, the spec and the update's constants
  {"op": "put", "file": F}      keep every tensor of F under its name
  {"op": "drop", "names": [...]}
  {"op": "inference", "x": NAME}
      one forward pass of the batch NAME (no grad), logits read to host memory;
      replies with the pass's milliseconds, timed here (perf_counter)
  {"op": "train", "x": NAME, "labels": NAME, "masks": PREFIX or null}
      one training step: dropout masks (drawn here, in the timed span, unless
      PREFIX names given ones: PREFIX + layer), forward, mean softmax
      cross-entropy, backward, and the paper's update
      v <- momentum v - weight_decay lr w - lr g ; w <- w + v
      replies with the step's milliseconds and the loss
  {"op": "sgemm", "n": N, "repeats": R}
      the median milliseconds of torch.mm on two N x N float32 matrices, its
      GFLOP/s, the BLAS PyTorch was built with and the thread count
  {"op": "logits", "x": NAME, "masks": PREFIX or null, "out": F}
      writes the logits (float64) to F
  {"op": "params", "out": F, "names": [...] or null}
      writes the current parameters (float64) to F
  {"op": "quit"}
"""
import json
import os
import sys
import time


def die_with_parent():
    """Linux: this process ends when the worker does (a stopped worker leaves nothing behind)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def blas_library():
    """The BLAS this process loaded (Debian's torch takes whichever libblas.so.3 the system provides)."""
    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    except OSError:
        return "unknown"
    if any("openblas" in lib for lib in libs):
        return "OpenBLAS"
    if any("/blas/" in lib for lib in libs):
        return "the reference BLAS (libblas3: install libopenblas0-pthread for OpenBLAS)"
    return ", ".join(os.path.basename(lib) for lib in libs) or "none loaded"


def main(commands_path, replies_path):
    replies = open(replies_path, "w", buffering=1)
    die_with_parent()

    def reply(obj):
        replies.write(json.dumps(obj) + "\n")
        replies.flush()

    try:
        import torch
        import torch.nn.functional as F
        sys.dont_write_bytecode = True  # leave no __pycache__ in properties/oracle
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "properties", "oracle"))
        from torch_alexnet import AlexNet, read_safetensors, write_safetensors
    except Exception as e:  # the worker found torch importable; say what broke
        reply({"error": f"cannot import the PyTorch peer: {type(e).__name__}: {e}"})
        return

    commands = open(commands_path, "r")
    state = {"net": None, "store": {}, "velocity": {}, "gen": None}

    def tensors_of(names_prefix):
        return {k[len(names_prefix):]: v for k, v in state["store"].items() if k.startswith(names_prefix)}

    def fresh_masks(N):
        spec = state["spec"]
        keep = 1.0 - spec["dropout"]
        return {
            l["name"]: (torch.rand(N, l["out"], generator=state["gen"]) < keep).to(torch.float32) / keep
            for l in spec["layers"] if "dropout" in l["after"]
        }

    def op_load(c):
        torch.set_num_threads(max(1, int(c["threads"])))
        t0 = time.perf_counter()
        tensors, meta = read_safetensors(c["file"])
        spec = json.loads(meta["spec"])
        names = [l["name"] + s for l in spec["layers"] for s in (".weight", ".bias")]
        params = {n: tensors.pop(n).to(torch.float32).requires_grad_(True) for n in names}
        state.update(spec=spec, sgd=json.loads(meta["sgd"]), names=names, params=params, net=AlexNet(spec, params))
        state["velocity"] = {n: torch.zeros_like(p, requires_grad=False) for n, p in params.items()}  # the velocity starts at zero
        state["gen"] = torch.Generator().manual_seed(int(c.get("seed", 1)))
        return {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "threads": torch.get_num_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "parallel": torch.__config__.parallel_info().split("ATen parallel backend:")[-1].strip().split("\n")[0],
            "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY") or None,
            "loadMs": 1000 * (time.perf_counter() - t0),
        }

    def op_put(c):
        tensors, _ = read_safetensors(c["file"])
        for k, v in tensors.items():
            state["store"][k] = v.to(torch.int64) if k.startswith("labels") else v.to(torch.float32)
        return {"names": sorted(tensors)}

    def op_drop(c):
        for k in c["names"]:
            state["store"].pop(k, None)
        return {}

    def op_inference(c):
        x = state["store"][c["x"]]
        net = state["net"]
        t0 = time.perf_counter()
        with torch.no_grad():
            z = net.logits(x, None).numpy()
        ms = 1000 * (time.perf_counter() - t0)
        return {"ms": ms, "first": float(z.flat[0])}

    def op_train(c):
        x = state["store"][c["x"]]
        labels = state["store"][c["labels"]]
        net, params, velocity, sgd = state["net"], state["params"], state["velocity"], state["sgd"]
        lr, momentum, wd = sgd["lr"], sgd["momentum"], sgd["weightDecay"]
        given = tensors_of(c["masks"]) if c.get("masks") else None
        t0 = time.perf_counter()
        masks = given if given is not None else fresh_masks(x.shape[0])
        for p in params.values():
            p.grad = None
        loss = F.cross_entropy(net.logits(x, masks), labels)
        loss.backward()
        with torch.no_grad():
            for n, w in params.items():
                v = velocity[n]
                v.mul_(momentum).add_(w, alpha=-wd * lr).add_(w.grad, alpha=-lr)
                w.add_(v)
        value = loss.item()
        ms = 1000 * (time.perf_counter() - t0)
        return {"ms": ms, "loss": value}

    def op_sgemm(c):
        """The machine's float32 matrix product rate as PyTorch's BLAS reaches it: n x n times n x n."""
        n, repeats = int(c["n"]), int(c["repeats"])
        g = torch.Generator().manual_seed(1)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(1000 * (time.perf_counter() - t0))
        ms = sorted(times)[len(times) // 2]
        return {"ms": ms, "gflops": 2 * n ** 3 / ms / 1e6, "blas": blas_library(), "threads": torch.get_num_threads()}

    def op_logits(c):
        x = state["store"][c["x"]]
        masks = tensors_of(c["masks"]) if c.get("masks") else None
        with torch.no_grad():
            z = state["net"].logits(x, masks)
        write_safetensors(c["out"], {"logits": z}, {"torch": torch.__version__})
        return {}

    def op_params(c):
        names = c.get("names") or state["names"]
        write_safetensors(c["out"], {n: state["params"][n] for n in names}, {"torch": torch.__version__})
        return {}

    ops = {"load": op_load, "put": op_put, "drop": op_drop, "inference": op_inference, "train": op_train, "sgemm": op_sgemm, "logits": op_logits, "params": op_params}
    reply({"ok": {"hello": True}})
    while True:
        line = commands.readline()
        if line == "":
            return  # the worker is gone
        line = line.strip()
        if not line:
            continue
        try:
            c = json.loads(line)
            if c.get("op") == "quit":
                reply({"ok": {}})
                return
            if c.get("op") not in ops:
                raise ValueError(f"unknown op {c.get('op')!r}")
            reply({"ok": ops[c["op"]](c)})
        except Exception as e:
            reply({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
