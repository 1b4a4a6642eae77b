#!/usr/bin/python3
"""Anchor: one full SAC v2 update in PyTorch on the CPU, updates per second.

SAC v2 as Haarnoja et al. write it in "Soft Actor-Critic Algorithms and Applications" (2018,
arXiv:1812.05905), with the settings the library's preset uses:

  * twin soft Q critics [obs, act] -> hidden -> hidden -> 1 with Polyak-averaged targets
    (tau 0.005), discount gamma 0.99;
  * a tanh-Gaussian actor obs -> hidden -> hidden -> 2|A| (mean and log-std side by side),
    log-std clamped to [-20, 2], reparameterised sampling (eq. 8, appendix C eq. 21);
  * automatic temperature on log alpha (eq. 18), target entropy -|A|, alpha starting at 1;
  * Adam, learning rate 3e-4, for the critics, the actor and log alpha;
  * a minibatch of --batch transitions drawn uniformly, with replacement, from a replay buffer
    of --buffer (1M) random transitions, the draw and gather included in the timed update.

One update = sample a batch, critic step (eq. 5), actor step (eq. 9), temperature step (eq. 18),
Polyak step of the target critics (Algorithm 1). The temperature used by the targets and the actor
loss is read once, before the temperature step. The critics are frozen during the actor step, so
its backward pass computes the critics' input gradients only.

After --warmup untimed updates it times updates in blocks until at least --updates updates and
--min-seconds have passed. Compare with the `sac_update` line of `sac bench` run beside it.

Prints one JSON line:
  {"bench": "torch_sac_update", "obs": O, "act": A, "hidden": H, "batch": B, "threads": T,
   "updates": N, "warmup": W, "seconds": S, "updates_per_sec": R, "ms_per_update": MS,
   "matmul_gflop_per_update": F, "achieved_matmul_gflops": G,
   "final_losses": {"critic_loss": ..., "actor_loss": ..., "ent_coef_loss": ...},
   "buffer": N, "torch": "...", "python": "...", "blas": [...]}
"""
import argparse
import contextlib
import copy
import json
import math
import os
import platform
import sys
import time

from anchor_env import loaded_blas, pin_threads

GAMMA = 0.99
TAU = 0.005
LEARNING_RATE = 3e-4
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
INITIAL_ALPHA = 1.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--obs", type=int, default=17, help="observation size |S|")
    p.add_argument("--act", type=int, default=6, help="action size |A|")
    p.add_argument("--hidden", type=int, default=256, help="width of both hidden layers of every network")
    p.add_argument("--batch", type=int, default=256, help="minibatch size")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (and OpenBLAS/OpenMP threads)")
    p.add_argument("--updates", type=int, default=100, help="timed updates, at least")
    p.add_argument("--warmup", type=int, default=200, help="untimed updates before timing")
    p.add_argument("--min-seconds", type=float, default=0.0, help="timed seconds, at least")
    p.add_argument("--buffer", type=int, default=1_000_000, help="replay buffer size in transitions")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


ARGS = parse_args()
pin_threads(ARGS.threads)

import torch  # noqa: E402  (after the thread variables are set)
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------

def mlp(sizes):
    """Linear layers of the given widths, ReLU between them, a linear output."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


class TanhGaussianActor(nn.Module):
    """pi(a|s): a = tanh(u), u ~ N(mean(s), std(s)^2), mean and log-std from one output layer."""

    def __init__(self, obs, act, hidden):
        super().__init__()
        self.net = mlp([obs, hidden, hidden, 2 * act])

    def sample(self, obs):
        """Reparameterised sample a = f(eps; s) (eq. 8) and its log-density log pi(a|s) (appendix C, eq. 21)."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        eps = torch.randn_like(mean)
        u = mean + log_std.exp() * eps
        action = torch.tanh(u)
        # log N(u; mean, std) with (u - mean) / std = eps, minus log |det da/du| = sum log(1 - tanh(u)^2),
        # the latter written as 2 (log 2 - u - softplus(-2u)) so it stays finite where tanh saturates.
        log_gauss = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2.0 * math.pi)).sum(dim=-1)
        log_det = (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(dim=-1)
        return action, log_gauss - log_det


class TwinCritic(nn.Module):
    """Q1(s, a) and Q2(s, a): two independent networks on the concatenated [s, a]."""

    def __init__(self, obs, act, hidden):
        super().__init__()
        self.q1 = mlp([obs + act, hidden, hidden, 1])
        self.q2 = mlp([obs + act, hidden, hidden, 1])

    def forward(self, obs, act):
        x = torch.cat([obs, act], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


@contextlib.contextmanager
def frozen(module):
    """Parameters of `module` need no gradient inside the block (gradients still flow through it to its inputs)."""
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# Replay buffer
# ---------------------------------------------------------------------------------------------

class RandomReplay:
    """A full replay buffer of random transitions; only the cost of drawing from it matters here."""

    def __init__(self, capacity, obs, act, generator):
        self.capacity = capacity
        self.obs = torch.randn(capacity, obs, generator=generator)
        self.act = torch.rand(capacity, act, generator=generator) * 2.0 - 1.0
        self.reward = torch.randn(capacity, generator=generator)
        self.next_obs = torch.randn(capacity, obs, generator=generator)
        self.done = (torch.rand(capacity, generator=generator) < 0.01).float()

    def sample(self, batch):
        idx = torch.randint(self.capacity, (batch,))
        return self.obs[idx], self.act[idx], self.reward[idx], self.next_obs[idx], self.done[idx]


# ---------------------------------------------------------------------------------------------
# SAC v2 losses, each as the paper writes it, as a mean over the minibatch
# ---------------------------------------------------------------------------------------------

def soft_q_target(actor, critic_target, reward, next_obs, done, alpha):
    """y = r + gamma (1 - d) V(s'), with V(s') = min(Q1', Q2')(s', a') - alpha log pi(a'|s'), a' ~ pi(.|s') (eqs. 2-3).
    A constant for the critic loss."""
    with torch.no_grad():
        next_act, next_log_pi = actor.sample(next_obs)
        q1_next, q2_next = critic_target(next_obs, next_act)
        soft_value = torch.min(q1_next, q2_next) - alpha * next_log_pi
        return reward + GAMMA * (1.0 - done) * soft_value


def critic_loss(critic, obs, act, y):
    """J_Q = E[ 1/2 (Q(s, a) - y)^2 ] (eq. 5), summed over the two critics."""
    q1, q2 = critic(obs, act)
    return 0.5 * (q1 - y).pow(2).mean() + 0.5 * (q2 - y).pow(2).mean()


def actor_loss(actor, critic, obs, alpha):
    """J_pi = E[ alpha log pi(f(eps; s)|s) - min(Q1, Q2)(s, f(eps; s)) ] (eq. 9); also returns log pi for the temperature."""
    action, log_pi = actor.sample(obs)
    q1, q2 = critic(obs, action)
    return (alpha * log_pi - torch.min(q1, q2)).mean(), log_pi


def alpha_loss(log_alpha, log_pi, target_entropy):
    """J(alpha) = E[ -alpha (log pi(a|s) + H0) ] (eq. 18), taken on log alpha, log pi a constant."""
    return -(log_alpha * (log_pi.detach() + target_entropy)).mean()


def polyak(online, target, tau):
    """theta' <- tau theta + (1 - tau) theta' (Algorithm 1)."""
    with torch.no_grad():
        for p, p_target in zip(online.parameters(), target.parameters()):
            p_target.lerp_(p, tau)


def gradient_step(optimizer, loss):
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


# ---------------------------------------------------------------------------------------------
# The learner and its update
# ---------------------------------------------------------------------------------------------

class Sac:
    def __init__(self, obs, act, hidden):
        self.actor = TanhGaussianActor(obs, act, hidden)
        self.critic = TwinCritic(obs, act, hidden)
        self.critic_target = copy.deepcopy(self.critic)
        for p in self.critic_target.parameters():
            p.requires_grad_(False)
        self.log_alpha = torch.full((1,), math.log(INITIAL_ALPHA), requires_grad=True)
        self.target_entropy = -float(act)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=LEARNING_RATE)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=LEARNING_RATE)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=LEARNING_RATE)

    def update(self, replay, batch_size):
        obs, act, reward, next_obs, done = replay.sample(batch_size)
        alpha = self.log_alpha.detach().exp()

        y = soft_q_target(self.actor, self.critic_target, reward, next_obs, done, alpha)
        loss_q = critic_loss(self.critic, obs, act, y)
        gradient_step(self.critic_opt, loss_q)

        with frozen(self.critic):
            loss_pi, log_pi = actor_loss(self.actor, self.critic, obs, alpha)
            gradient_step(self.actor_opt, loss_pi)

        loss_alpha = alpha_loss(self.log_alpha, log_pi, self.target_entropy)
        gradient_step(self.alpha_opt, loss_alpha)

        polyak(self.critic, self.critic_target, TAU)
        return loss_q.detach(), loss_pi.detach(), loss_alpha.detach()


def matmul_gflop_per_update(obs, act, hidden, batch):
    """Matrix-multiply work of one update, in GFLOP (2 flops per multiply-add)."""
    def forward(sizes):
        return sum(2 * batch * i * o for i, o in zip(sizes[:-1], sizes[1:]))

    def input_grads_past_first(sizes):
        return forward(sizes[1:])

    actor_sizes = [obs, hidden, hidden, 2 * act]
    critic_sizes = [obs + act, hidden, hidden, 1]
    # Actor: forward on s' (target) and on s (actor step), weight gradients and hidden input gradients (actor step).
    actor = 3 * forward(actor_sizes) + input_grads_past_first(actor_sizes)
    # Per critic: target forward; critic step forward, weight gradients, hidden input gradients;
    # actor step forward and input gradients of every layer (no weight gradients: frozen).
    critic = 5 * forward(critic_sizes) + input_grads_past_first(critic_sizes)
    return (actor + 2 * critic) / 1e9


def main(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed + 1)

    replay = RandomReplay(args.buffer, args.obs, args.act, generator)
    learner = Sac(args.obs, args.act, args.hidden)

    for _ in range(args.warmup):
        learner.update(replay, args.batch)

    done = 0
    start = time.perf_counter()
    while True:
        for _ in range(10):
            losses = learner.update(replay, args.batch)
        done += 10
        elapsed = time.perf_counter() - start
        if done >= args.updates and elapsed >= args.min_seconds:
            break

    final = {name: float(v) for name, v in zip(("critic_loss", "actor_loss", "ent_coef_loss"), losses)}
    if not all(math.isfinite(v) for v in final.values()):
        raise SystemExit("non-finite loss: %r" % final)
    gflop = matmul_gflop_per_update(args.obs, args.act, args.hidden, args.batch)
    result = {
        "bench": "torch_sac_update",
        "obs": args.obs, "act": args.act, "hidden": args.hidden, "batch": args.batch,
        "threads": torch.get_num_threads(),
        "updates": done, "warmup": args.warmup, "seconds": round(elapsed, 4),
        "updates_per_sec": round(done / elapsed, 3),
        "ms_per_update": round(1000.0 * elapsed / done, 4),
        "matmul_gflop_per_update": round(gflop, 5),
        "achieved_matmul_gflops": round(gflop * done / elapsed, 3),
        "final_losses": final,
        "buffer": args.buffer,
        "torch": torch.__version__, "python": platform.python_version(), "blas": loaded_blas(),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main(ARGS)
