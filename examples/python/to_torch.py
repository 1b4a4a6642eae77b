"""Builds the SAC actor of a Sac.Functional checkpoint (final.ckpt) as a PyTorch nn.Module, with the weights the
checkpoint holds, and computes the actions `sac` would take with it.

The module is an ordinary nn.Sequential of nn.Linear layers and the configuration's activation (nn.ReLU, nn.Tanh,
nn.ELU or nn.LeakyReLU; the checkpoint stores each weight [out, in], nn.Linear's own layout) under `SacPolicy`, whose forward gives the deterministic action rescaled to the environment's
bounds and whose `sample` gives the reparameterised draw and its log-density; fine-tune, script or export it as any
PyTorch module. The checkpoint is read by load_policy.py (stdlib and NumPy) beside this file.

usage (the same protocol as load_policy.py):
  python3 to_torch.py CHECKPOINT                 # stdin: a JSON list of observations -> {"actions": [...]}
  python3 to_torch.py CHECKPOINT --noise         # stdin: {"observations": [...], "noise": [...]} -> actions, log_probs
  options: --low X[,X...] --high X[,X...]        # action bounds of an environment load_policy.py does not know
"""
import json
import math
import sys

import numpy as np
import torch
from torch import nn

from load_policy import SacActor, _floats

# The configuration's hidden activation (lower-cased) as a torch module, with the library's constants.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": lambda: nn.ELU(alpha=1.0),
    "leakyrelu": lambda: nn.LeakyReLU(negative_slope=0.01),
}


class SacPolicy(nn.Module):
    """SAC's tanh-Gaussian policy: an MLP to (mu, raw log-std), squashed by tanh and rescaled to the action bounds."""

    def __init__(self, actor):
        super().__init__()
        layers = []
        for i, (w, b) in enumerate(actor.layers):
            linear = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
            layers.append(linear)
            if i < len(actor.layers) - 1:
                layers.append(ACTIVATIONS[actor.activation]())
        self.net = nn.Sequential(*layers)
        self.action_size = actor.action_size
        self.use_sde = actor.use_sde
        # The run's frozen observation statistics, where it normalised (see load_policy.py).
        self.normalize = actor.normalization is not None
        if self.normalize:
            mean, std, self.obs_clip = actor.normalization
            self.register_buffer("obs_mean", torch.tensor(mean, dtype=torch.float64))
            self.register_buffer("obs_std", torch.tensor(std, dtype=torch.float64))
        self.log_std_kind, self.log_std_min, self.log_std_max = actor.log_std
        self.register_buffer("low", torch.tensor(actor.low, dtype=torch.float64))
        self.register_buffer("high", torch.tensor(actor.high, dtype=torch.float64))

    def heads(self, observations):
        if self.normalize:
            observations = ((observations.double() - self.obs_mean) / self.obs_std).clamp(-self.obs_clip, self.obs_clip).float()
        out = self.net(observations)
        if self.use_sde:
            # gSDE: the network emits the mean alone, clipped to [-2, 2] (SB3's clip_mean).
            return out.clamp(-2.0, 2.0), None
        return out[:, : self.action_size], out[:, self.action_size :]

    def log_std(self, raw):
        lo, hi = float(self.log_std_min), float(self.log_std_max)
        if self.log_std_kind == "Clamp":
            return raw.clamp(lo, hi)
        return lo + 0.5 * (hi - lo) * (torch.tanh(raw) + 1.0)

    def rescale(self, squashed):
        # RescaleAction: ((1 - a) low + (1 + a) high) / 2, in float64 as the library rounds it once.
        s = squashed.double().clamp(-1.0, 1.0)
        return (0.5 * ((1.0 - s) * self.low + (1.0 + s) * self.high)).float()

    def forward(self, observations):
        """The deterministic action: tanh(mu), rescaled."""
        mu, _ = self.heads(observations)
        return self.rescale(torch.tanh(mu))

    def sample(self, observations, noise):
        """tanh(mu + sigma * noise), rescaled, and its log-density in [-1, 1]^|A| (SAC appendix C, eq. 21, with the
        squash term written as 2 (log 2 - u - softplus(-2u)) for stability)."""
        if self.use_sde:
            raise SystemExit("--noise: a gSDE actor's noise is an exploration matrix per update, not a draw per row")
        mu, raw = self.heads(observations)
        log_std = self.log_std(raw)
        u = mu + torch.exp(log_std) * noise
        au = u.abs()
        squash = 2.0 * (math.log(2.0) - au - torch.log1p(torch.exp(-2.0 * au)))
        per_dim = -0.5 * noise * noise - log_std - 0.5 * math.log(2.0 * math.pi) - squash
        return self.rescale(torch.tanh(u)), per_dim.sum(dim=1)


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    path, args = argv[1], argv[2:]
    low = _floats(args[args.index("--low") + 1]) if "--low" in args else None
    high = _floats(args[args.index("--high") + 1]) if "--high" in args else None
    policy = SacPolicy(SacActor(path, low, high)).eval()
    request = json.load(sys.stdin)
    with torch.no_grad():
        if "--noise" in args:
            obs = torch.tensor(request["observations"], dtype=torch.float32)
            noise = torch.tensor(request["noise"], dtype=torch.float32).reshape(obs.shape[0], -1)
            actions, log_probs = policy.sample(obs, noise)
            print(json.dumps({"actions": actions.tolist(), "log_probs": log_probs.tolist()}))
        else:
            print(json.dumps({"actions": policy(torch.tensor(request, dtype=torch.float32)).tolist()}))


if __name__ == "__main__":
    main(sys.argv)
