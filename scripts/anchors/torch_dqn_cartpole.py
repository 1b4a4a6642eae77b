"""DQN, Double DQN and soft DQN on CartPole-v1 in PyTorch, at RL Zoo's DQN preset, as a learning cross-check.

A second, independent implementation of the loop `sac train --algo dqn|double-dqn|soft-dqn --env CartPole-v1` runs,
with Stable-Baselines3's DQN semantics: uniformly random actions for the first `learning_starts` steps, then
epsilon-greedy with epsilon falling linearly from 1 to `exploration_final_eps` over the first `exploration_fraction` of
the run (soft DQN: a ~ softmax(Q / alpha) instead); a phase of `train_freq` environment steps, then `gradient_steps`
Adam steps on the Huber TD loss with the gradient's global norm clipped at 10; the target network copied every
`target_update_interval` environment steps; time-limit truncations bootstrapped, terminations not. CartPole-v1 is
Gymnasium's dynamics (Euler steps of 0.02 s, a 12 degree and 2.4 m limit, reward 1 per step, 500 steps at most).

Prints one JSON line per run with the final policy's mean return over 20 greedy episodes:
  {"bench": "torch_dqn_cartpole", "algo": "dqn", "seed": 0, "steps": 50000, "final_mean": 500.0, ...}
"""
import argparse
import json
import math
import time

from anchor_env import pin_threads


class CartPole:
    """CartPole-v1's equations of motion (Barto, Sutton and Anderson 1983, as Gymnasium integrates them)."""
    gravity, cart_mass, pole_mass, half_length, force_mag, dt = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_limit, x_limit, max_steps = 12 * 2 * math.pi / 360, 2.4, 500

    def __init__(self, rng):
        self.rng = rng
        self.state = None
        self.steps = 0

    def reset(self):
        self.state = [float(v) for v in self.rng.uniform(-0.05, 0.05, size=4)]
        self.steps = 0
        return list(self.state)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        total = self.cart_mass + self.pole_mass
        pole_ml = self.pole_mass * self.half_length
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + pole_ml * theta_dot * theta_dot * sin) / total
        theta_acc = (self.gravity * sin - cos * temp) / (self.half_length * (4.0 / 3.0 - self.pole_mass * cos * cos / total))
        x_acc = temp - pole_ml * theta_acc * cos / total
        x, x_dot = x + self.dt * x_dot, x_dot + self.dt * x_acc
        theta, theta_dot = theta + self.dt * theta_dot, theta_dot + self.dt * theta_acc
        self.state = [x, x_dot, theta, theta_dot]
        self.steps += 1
        terminated = abs(x) > self.x_limit or abs(theta) > self.theta_limit
        truncated = not terminated and self.steps >= self.max_steps
        return list(self.state), 1.0, terminated, truncated


def q_network(torch, hidden):
    layers, width = [], 4
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, 2))
    return torch.nn.Sequential(*layers)


def td_targets(torch, algo, alpha, gamma, online, target, next_obs, rewards, terminated):
    """y = r + gamma (1 - terminated) V(s'), V from the target network: max (DQN), at the online argmax (Double DQN),
    alpha logsumexp(Q' / alpha) (soft DQN)."""
    with torch.no_grad():
        q_next = target(next_obs)
        if algo == "dqn":
            v = q_next.max(dim=1).values
        elif algo == "double-dqn":
            v = q_next.gather(1, online(next_obs).argmax(dim=1, keepdim=True)).squeeze(1)
        else:
            v = alpha * torch.logsumexp(q_next / alpha, dim=1)
        return rewards + gamma * (1.0 - terminated) * v


def run(torch, np, algo, seed, args):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = CartPole(rng)
    online, target = q_network(torch, args.hidden), q_network(torch, args.hidden)
    target.load_state_dict(online.state_dict())
    optimizer = torch.optim.Adam(online.parameters(), lr=args.lr)
    n = args.buffer
    obs_buf, next_buf = np.zeros((n, 4), np.float32), np.zeros((n, 4), np.float32)
    act_buf, rew_buf, term_buf = np.zeros(n, np.int64), np.zeros(n, np.float32), np.zeros(n, np.float32)
    stored = 0
    obs = env.reset()
    t = 0
    while t < args.steps:
        for _ in range(min(args.train_freq, args.steps - t)):
            if t < args.learning_starts:
                action = int(rng.integers(2))
            else:
                with torch.no_grad():
                    q = online(torch.tensor([obs], dtype=torch.float32))[0]
                if algo == "soft-dqn":
                    p = torch.softmax(q / args.alpha, dim=0).numpy().astype(np.float64)
                    action = int(rng.choice(2, p=p / p.sum()))
                else:
                    epsilon = args.eps_final + (1.0 - args.eps_final) * max(0.0, 1.0 - t / (args.eps_fraction * args.steps))
                    action = int(rng.integers(2)) if rng.random() < epsilon else int(q.argmax())
            next_obs, reward, terminated, truncated = env.step(action)
            i = stored % n
            obs_buf[i], next_buf[i], act_buf[i], rew_buf[i], term_buf[i] = obs, next_obs, action, reward, float(terminated)
            stored += 1
            t += 1
            if t % args.target_update == 0:
                target.load_state_dict(online.state_dict())
            obs = env.reset() if terminated or truncated else next_obs
        if t > args.learning_starts:
            for _ in range(args.gradient_steps):
                idx = rng.integers(min(stored, n), size=args.batch)
                o, o2 = torch.from_numpy(obs_buf[idx]), torch.from_numpy(next_buf[idx])
                a, r, d = torch.from_numpy(act_buf[idx]), torch.from_numpy(rew_buf[idx]), torch.from_numpy(term_buf[idx])
                y = td_targets(torch, algo, args.alpha, args.gamma, online, target, o2, r, d)
                q = online(o).gather(1, a.unsqueeze(1)).squeeze(1)
                loss = torch.nn.functional.smooth_l1_loss(q, y)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(online.parameters(), 10.0)
                optimizer.step()
    returns = []
    eval_env = CartPole(np.random.default_rng(1000 + seed))
    for _ in range(args.eval_episodes):
        o, total, done = eval_env.reset(), 0.0, False
        while not done:
            with torch.no_grad():
                a = int(online(torch.tensor([o], dtype=torch.float32))[0].argmax())
            o, r, terminated, truncated = eval_env.step(a)
            total += r
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", choices=["dqn", "double-dqn", "soft-dqn"], default="dqn")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--lr", type=float, default=2.3e-3, help="RL Zoo: 2.3e-3")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--buffer", type=int, default=100_000)
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--target-update", type=int, default=10)
    p.add_argument("--train-freq", type=int, default=256)
    p.add_argument("--gradient-steps", type=int, default=128)
    p.add_argument("--eps-fraction", type=float, default=0.16)
    p.add_argument("--eps-final", type=float, default=0.04)
    p.add_argument("--alpha", type=float, default=0.01, help="soft DQN's temperature (the library's default)")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    pin_threads(args.threads)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        start = time.perf_counter()
        final = run(torch, np, args.algo, seed, args)
        print(json.dumps({"bench": "torch_dqn_cartpole", "algo": args.algo, "seed": seed, "steps": args.steps,
                          "lr": args.lr, "final_mean": final, "seconds": round(time.perf_counter() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
