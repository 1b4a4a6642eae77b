"""Loads the SAC actor of a Sac.Functional checkpoint (final.ckpt; safetensors layout) with the standard library and
NumPy only, and computes the actions `sac` would take.

The checkpoint holds the actor as one flat float32 vector: per layer the weight [out, in] row-major (PyTorch's
nn.Linear layout), then the bias; the layer widths are the configuration's "actorHiddenSizes" where set, else its
"hiddenSizes"; the configuration's activation between layers (ReLU unless "activation" says Tanh, ELU or LeakyReLU);
the last layer emits 2|A| values, the Gaussian mean mu and the raw log-std. The deterministic action is tanh(mu),
rescaled from [-1, 1] to the environment's action bounds.
With gSDE ("useSde") the last layer emits mu alone, the log-std matrix follows the network in the vector, and the
deterministic action is tanh(clip(mu, -2, 2)); --noise is refused there (its noise is a matrix per update, not per row).
A run that normalised observations ("normalize") stores their running statistics in the checkpoint's metadata; the
network sees clip((x - mean) / sqrt(var + 1e-8), -clip, clip), as in the library, so raw observations go in.

usage:
  python3 load_policy.py CHECKPOINT                 # reads a JSON list of observations on stdin
  python3 load_policy.py CHECKPOINT --noise         # stdin: {"observations": [...], "noise": [...]} -> actions, log_probs
  options: --low X[,X...] --high X[,X...]           # action bounds of an environment not in BOUNDS below
Prints a JSON object {"actions": [[...], ...]} (and "log_probs" with --noise).
"""
import json
import struct
import sys
import zlib

import numpy as np

# Action bounds of the built-in continuous environments (`sac envs`); pass --low/--high for others.
BOUNDS = {
    "Pendulum-v1": (-2.0, 2.0),
    "MountainCarContinuous-v0": (-1.0, 1.0),
    "PointGoal-v0": (-1.0, 1.0),
    "MultiGoal-v0": (-1.0, 1.0),
    "HalfCheetah-v4": (-1.0, 1.0),
    "HalfCheetah-v5": (-1.0, 1.0),
    "Hopper-v4": (-1.0, 1.0),
    "Walker2d-v4": (-1.0, 1.0),
    "Ant-v4": (-1.0, 1.0),
    "Ant-v5": (-1.0, 1.0),
    "Humanoid-v4": (-0.4, 0.4),
    "Humanoid-v5": (-0.4, 0.4),
}

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U32": "<u4", "U8": "u1"}


def read_checkpoint(path):
    """Returns (metadata dict, {name: numpy array}) after checking the file's CRC-32."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    if "crc32" in meta:
        # The checksum covers the file with its own eight hex digits written as zeros.
        key = b'"crc32":"'
        at = data.index(key, 8, 8 + n) + len(key)
        actual = "%08x" % (zlib.crc32(data[:at] + b"00000000" + data[at + 8 :]) & 0xFFFFFFFF)
        if actual != meta["crc32"]:
            raise SystemExit("%s: checksum mismatch (%s, stored %s)" % (path, actual, meta["crc32"]))
    start = 8 + n
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[start + begin : start + end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return meta, tensors


# The hidden activations by their lower-cased configuration names: ELU with alpha 1, LeakyReLU with slope 0.01.
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, np.float32(0)),
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, np.float32(0)))).astype(np.float32),
    "leakyrelu": lambda x: np.where(x < 0, x * np.float32(0.01), x).astype(np.float32),
}


class SacActor:
    """The SAC policy network of a checkpoint, as NumPy arrays."""

    def __init__(self, path, low=None, high=None):
        meta, tensors = read_checkpoint(path)
        if meta.get("algorithm") != "sac":
            raise SystemExit("%s: a checkpoint of '%s', not SAC" % (path, meta.get("algorithm")))
        config = json.loads(meta["config"])
        self.environment_id = meta.get("environment_id", "")
        self.observation_size = int(meta["observation_size"])
        self.action_size = a = int(meta["action_size"])
        self.use_sde = bool(config.get("useSde", False))
        hidden = config.get("actorHiddenSizes") or config["hiddenSizes"]
        sizes = [self.observation_size] + list(hidden) + [a if self.use_sde else 2 * a]
        flat = tensors["actor"].astype(np.float32)
        self.layers = []
        offset = 0
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            w = flat[offset : offset + fan_out * fan_in].reshape(fan_out, fan_in)
            offset += fan_out * fan_in
            b = flat[offset : offset + fan_out]
            offset += fan_out
            self.layers.append((w, b))
        if self.use_sde:
            # The log-std matrix: one row per latent feature, |A| columns (full_std) or one.
            offset += hidden[-1] * (a if config.get("fullStd", True) else 1)
        if offset != flat.size:
            raise SystemExit("%s: the actor has %d parameters, the sizes %s need %d" % (path, flat.size, sizes, offset))
        self.normalization = None
        if "normalization" in meta:
            stats = json.loads(meta["normalization"])
            if stats["settings"].get("observations", True):
                self.normalization = (
                    np.asarray(stats["observationMean"], dtype=np.float64),
                    np.sqrt(np.asarray(stats["observationVariance"], dtype=np.float64) + 1e-8),
                    float(stats["settings"].get("clipObservations", 10.0)),
                )
        self.activation = config.get("activation", "Relu").lower()
        if self.activation not in ACTIVATIONS:
            raise SystemExit("%s: unknown activation '%s'" % (path, config.get("activation")))
        self.log_std = (config.get("logStdBound", "Clamp"), np.float32(config.get("logStdMin", -20)), np.float32(config.get("logStdMax", 2)))
        if low is None or high is None:
            if self.environment_id not in BOUNDS:
                raise SystemExit("%s: no action bounds known for %s; pass --low and --high" % (path, self.environment_id))
            lo, hi = BOUNDS[self.environment_id]
            low, high = [lo] * a, [hi] * a
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)

    def forward(self, observations):
        """(mu, raw log-std), each [batch, |A|], in float32 as the library computes them; for a gSDE actor
        (clip(mu, -2, 2), None), its log-std being a matrix outside the network."""
        x = np.atleast_2d(np.asarray(observations, dtype=np.float32))
        if self.normalization is not None:
            mean, std, clip = self.normalization
            x = np.clip((x.astype(np.float64) - mean) / std, -clip, clip).astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w.T + b
            if i < len(self.layers) - 1:
                x = ACTIVATIONS[self.activation](x)
        a = self.action_size
        if self.use_sde:
            return np.clip(x, np.float32(-2), np.float32(2)), None
        return x[:, :a], x[:, a:]

    def rescale(self, squashed):
        """[-1, 1] to the environment's bounds, as RescaleAction: ((1 - a) low + (1 + a) high) / 2."""
        s = np.clip(squashed.astype(np.float64), -1.0, 1.0)
        return (0.5 * ((1.0 - s) * self.low + (1.0 + s) * self.high)).astype(np.float32)

    def deterministic(self, observations):
        mu, _ = self.forward(observations)
        return self.rescale(np.tanh(mu))

    def sample(self, observations, noise):
        """The reparameterised draw tanh(mu + sigma * noise), rescaled, and its log-density in [-1, 1]^|A|."""
        if self.use_sde:
            raise SystemExit("--noise: a gSDE actor's noise is an exploration matrix per update, not a draw per row")
        mu, raw = self.forward(observations)
        kind, lo, hi = self.log_std
        if kind == "Clamp":
            log_std = np.clip(raw, lo, hi)
        else:
            log_std = lo + np.float32(0.5) * (hi - lo) * (np.tanh(raw) + np.float32(1))
        eps = np.asarray(noise, dtype=np.float32).reshape(mu.shape)
        u = mu + np.exp(log_std) * eps
        au = np.abs(u)
        # log(1 - tanh(u)^2) = 2 (log 2 - |u| - softplus(-2|u|)), free of cancellation.
        squash = np.float32(2) * (np.float32(np.log(2.0)) - au - np.log1p(np.exp(np.float32(-2) * au)))
        per_dim = np.float32(-0.5) * eps * eps - log_std - np.float32(0.5 * np.log(2 * np.pi)) - squash
        return self.rescale(np.tanh(u)), per_dim.sum(axis=1, dtype=np.float32)


def _floats(text):
    return [float(x) for x in text.split(",")]


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    path, args = argv[1], argv[2:]
    low = high = None
    if "--low" in args:
        low = _floats(args[args.index("--low") + 1])
    if "--high" in args:
        high = _floats(args[args.index("--high") + 1])
    actor = SacActor(path, low, high)
    request = json.load(sys.stdin)
    if "--noise" in args:
        actions, log_probs = actor.sample(request["observations"], request["noise"])
        print(json.dumps({"actions": actions.tolist(), "log_probs": log_probs.tolist()}))
    else:
        print(json.dumps({"actions": actor.deterministic(request).tolist()}))


if __name__ == "__main__":
    main(sys.argv)
