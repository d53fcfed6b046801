"""AlexNet in PyTorch, built from alexnet-ts's layer table, as an outside oracle.

The network is written here from the table alone (the NetSpec JSON of
core/alexnet.ts): convolutions with groups=2 where a layer reads its own tower,
ReLU, local response normalisation applied to each tower's half of the channels
apart, overlapping max-pooling, explicit dropout masks, a mean softmax
cross-entropy, and the paper's update (v <- momentum v - weight_decay lr w -
lr g; w <- w + v). Nothing of the project's own kernels is used.

PyTorch's local_response_norm divides alpha by the window size n (as
cuda-convnet does): b = a / (k + (alpha / n) sum a^2)^beta. The paper's form
multiplies the plain sum by alpha, so this oracle passes alpha * n.

    python3 torch_alexnet.py IN.safetensors OUT.safetensors

IN holds the parameters, the input `x`, the labels `labels`, and one dropout
mask per layer (`mask.<layer>`), with the spec, the update's constants and the
number of update steps (`steps`) in its metadata. OUT holds `logits`, `loss`
and `grad.<param>` of the first pass and, after `steps` steps of the update on
the same batch, `updated.<param>`, all float64.
"""
import json
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I32": (torch.int32, 4)}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, h in header.items():
        dtype, size = DTYPES[h["dtype"]]
        a, b = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtype) if b > a else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(h["shape"])
    return out, meta


def write_safetensors(path, tensors, meta):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float64).contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def tower_split(units):
    """Tower 0 takes the first half, rounded up."""
    return [(units + 1) // 2, units // 2]


class AlexNet:
    """The table's network on given parameters (name -> float64 tensor)."""

    def __init__(self, spec, params):
        self.spec = spec
        self.params = params

    def lrn(self, h):
        p = self.spec["lrn"]
        parts = [s for s in tower_split(h.shape[1]) if s > 0]
        norm = lambda t: F.local_response_norm(t, size=p["n"], alpha=p["alpha"] * p["n"], beta=p["beta"], k=p["k"])
        return torch.cat([norm(t) for t in torch.split(h, parts, dim=1)], dim=1)

    def logits(self, x, masks):
        h = x
        for l in self.spec["layers"]:
            w, b = self.params[l["name"] + ".weight"], self.params[l["name"] + ".bias"]
            if l["kind"] == "conv":
                groups = 2 if l["link"] == "own" else 1
                h = F.conv2d(h, w, b, stride=l["stride"], padding=l["pad"], groups=groups)
            else:
                h = F.linear(h.reshape(h.shape[0], -1), w, b)
            for a in l["after"]:
                if a == "relu":
                    h = F.relu(h)
                elif a == "lrn":
                    h = self.lrn(h)
                elif a == "pool":
                    h = F.max_pool2d(h, self.spec["pool"]["size"], self.spec["pool"]["stride"])
                elif a == "dropout" and masks is not None:
                    h = h * masks[l["name"]]
        return h


def main(src, dst):
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tensors, meta = read_safetensors(src)
    spec = json.loads(meta["spec"])
    sgd = json.loads(meta["sgd"])
    names = [l["name"] + s for l in spec["layers"] for s in (".weight", ".bias")]
    params = {n: tensors[n].to(torch.float64).clone().requires_grad_(True) for n in names}
    masks = {k[len("mask."):]: v.to(torch.float64) for k, v in tensors.items() if k.startswith("mask.")}
    x = tensors["x"].to(torch.float64)
    labels = tensors["labels"].to(torch.int64)
    net = AlexNet(spec, params)
    z = net.logits(x, masks if masks else None)
    loss = F.cross_entropy(z, labels)
    loss.backward()
    out = {"logits": z, "loss": loss.reshape(1)}
    for n in names:
        out["grad." + n] = params[n].grad.clone()
    # `steps` steps of the paper's update on the same batch and masks, the velocity
    # starting at zero, so that from the second step on the momentum term counts.
    steps = int(meta.get("steps", "0"))
    velocity = {n: torch.zeros_like(params[n]) for n in names}
    for step in range(steps):
        if step > 0:
            for n in names:
                params[n].grad = None
            F.cross_entropy(net.logits(x, masks if masks else None), labels).backward()
        with torch.no_grad():
            for n in names:
                w, g = params[n], params[n].grad
                velocity[n] = sgd["momentum"] * velocity[n] - sgd["weightDecay"] * sgd["lr"] * w - sgd["lr"] * g
                w += velocity[n]
    if steps:
        for n in names:
            out["updated." + n] = params[n]
    write_safetensors(dst, out, {"torch": torch.__version__, "threads": str(torch.get_num_threads())})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
