"""Throughput of populations: member-frames per CPU-second of one stacked population (seqgen.core.population)
against the same N models trained one at a time, and against a torch.func ensemble (stack_module_state + vmap
of one functional model), measured in one run, interleaved round by round, on one thread.

A training step is what `fit` does per batch: forward, loss, backward, (per-member) gradient-norm clipping and a
simplified Nesterov update. Music cases use real JSB chunks (batch 4, chunks of 100 frames, the music defaults);
the lab case is the adding problem (T = 50, batch 20). Times are CPU seconds of this process (time.process_time),
after each approach has run every input once (the heap's first-touch page faults are not a training run's steady
state). A last case measures what batching gains on the recurrent GEMM alone, and torch.rand's cost per number.

    OMP_NUM_THREADS=1 python scripts/bench_population.py --json results/bench_population.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import torch
from torch import nn

from seqgen.core.optim import (
    GradClipper,
    MemberOptimizer,
    OptimConfig,
    SimplifiedNesterov,
    clip_members,
    member_grad_norms,
)
from seqgen.core.population import reuse_freed_memory, stack_models
from seqgen.fileio import write_text_atomic
from seqgen.lab.population import Shape, init_population, run
from seqgen.lab.tasks import make_task
from seqgen.music.model import MusicModel, make_conditional, make_config

OPTIM = OptimConfig("nesterov", lr=0.05, momentum=0.9)


def jsb_batches(n: int) -> list[torch.Tensor]:
    """The first n training chunks of JSB (batch 4, 100 frames), as float rolls [4, T, 88]."""
    from seqgen.music.batching import roll_batches
    from seqgen.music.datasets import load_dataset

    rolls = load_dataset("jsb").splits["train"]
    out = []
    for batch, _ in roll_batches(rolls, 4, 100, torch.Generator().manual_seed(0)):
        out.append(batch.rolls.float())
        if len(out) == n:
            return out
    return out


def music_population_step(pop, opt, clip):
    """One population step on rolls; returns member-frames."""

    def step(rolls):
        out = pop.teacher_forced(rolls)
        loss = pop.conditional.loss(rolls, out.biases).mean((-2, -1))
        params = list(pop.parameters())
        for p in params:
            p.grad = None
        loss.sum().backward()
        grads = [p.grad for p in params]
        clip_members(grads, member_grad_norms(grads), clip)
        opt.step()
        return loss.shape[0] * rolls.shape[0] * rolls.shape[1]

    return step


def music_single_steps(models):
    """The same step for each single model in turn (fit's inner loop)."""
    opts = [SimplifiedNesterov(m.parameters(), OPTIM.lr, OPTIM.momentum) for m in models]
    clipper = GradClipper(1.0)

    def step(rolls):
        for model, opt in zip(models, opts):
            out = model.teacher_forced(rolls)
            loss = model.conditional.loss(rolls, out.biases).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clipper(model.parameters())
            opt.step()
        return len(models) * rolls.shape[0] * rolls.shape[1]

    return step


class PlainRNN(nn.Module):
    """A standard functional-friendly RNN (per-step addmm + tanh under autograd) with a linear read-out (torch.func)."""

    def __init__(self, n_in: int, hidden: int, n_out: int):
        super().__init__()
        self.W_vu, self.W_uu = nn.Linear(n_in, hidden), nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        drive, h, hs = self.W_vu(x), x.new_zeros(x.shape[0], self.W_uu.weight.shape[0]), []
        for d in drive.unbind(1):
            h = torch.tanh(d + self.W_uu(h))
            hs.append(h)
        return self.out(torch.stack(hs, 1))


class PlainMusic(nn.Module):
    """PlainRNN whose read-out gives the biases of the core's single conditional (Bernoulli, NADE or RBM) of frame t
    from frames < t; forward is the mean training loss of rolls [B, T, P]."""

    def __init__(self, config):
        super().__init__()
        self.conditional = make_conditional(config)
        self.split = list(self.conditional.bias_sizes.values())
        self.rnn = PlainRNN(config.n_visible, config.recurrent.hidden_size, sum(self.split))

    def forward(self, rolls):
        prev = torch.cat([rolls[:, :1] * 0, rolls[:, :-1]], 1)
        biases = dict(zip(self.conditional.bias_sizes, self.rnn(prev).split(self.split, -1)))
        return self.conditional.loss(rolls, biases).mean()


def vmap_ensemble_step(models: list[nn.Module], loss_of):
    """torch.func ensemble of `models` (one class): stack_module_state + vmap(grad(loss)) with each member's own
    random numbers, then per-member clip + update."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    n = len(models)
    params, _ = stack_module_state(models)
    base = models[0].to("meta")
    opt = MemberOptimizer(params, OPTIM, torch.full((n,), OPTIM.lr), torch.full((n,), OPTIM.momentum))

    def loss(p, x, y):
        if loss_of == "music":
            return functional_call(base, p, (x,))
        return (functional_call(base, p, (x,))[:, -1, 0] - y).pow(2).mean()

    grad_fn = vmap(grad(loss), in_dims=(0, None, None), randomness="different")

    def step(x, y=None):
        grads = grad_fn(params, x, y)
        for k, p in params.items():
            p.grad = grads[k]
        clip_members(list(grads.values()), member_grad_norms(grads.values()), torch.ones(n))
        opt.step()
        return n * x.shape[0] * x.shape[1]

    return step


def interleave(steps: dict, inputs: list, rounds: int) -> dict[str, float]:
    """CPU seconds and member-frames of each approach over `rounds` rounds, approaches alternating each round."""
    for step in steps.values():  # warm-up on every input: the allocator's heap reaches its steady size (see main)
        for x in inputs:
            step(*x)
    cpu, system = dict.fromkeys(steps, 0.0), dict.fromkeys(steps, 0.0)
    frames = dict.fromkeys(steps, 0)
    for r in range(rounds):
        for name, step in steps.items():
            started, sys_started = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
            frames[name] += step(*inputs[r % len(inputs)])
            cpu[name] += time.process_time() - started
            system[name] += resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys_started
    return {name: frames[name] / cpu[name] for name in steps}, {name: system[name] / cpu[name] for name in steps}


def music_case(kind: str, n: int, rounds: int, rolls: list, **overrides) -> tuple:
    config = make_config(kind=kind, **overrides)
    singles = []
    for seed in range(n):
        torch.manual_seed(seed)
        singles.append(MusicModel(config))
    pop = stack_models(singles)
    opt = MemberOptimizer(dict(pop.named_parameters()), OPTIM, torch.full((n,), OPTIM.lr), torch.full((n,), 0.9))
    steps = {"population": music_population_step(pop, opt, torch.ones(n)), "one_at_a_time": music_single_steps(singles)}
    ensemble = lambda: vmap_ensemble_step([PlainMusic(config) for _ in range(n)], "music")
    return (
        f"{kind} {config.recurrent.cell} {config.recurrent.hidden_size}",
        n,
        steps,
        ensemble,
        [(r,) for r in rolls],
        rounds,
    )


def lab_case(hidden: int, n: int, rounds: int) -> tuple:
    task = make_task("adding", 50, 64, None, "")
    shape = Shape(task.input_size, hidden, task.output_size, "tanh")
    gen = torch.Generator().manual_seed(0)
    data = [task.sample(20, gen) for _ in range(4)]

    def population(members: int):
        params = init_population(shape, list(range(members)))
        opt = MemberOptimizer(params, OPTIM, torch.full((members,), OPTIM.lr), torch.full((members,), 0.9))

        def step(x, y):
            losses = task.loss(run(params, shape, x)[0], y)
            grads = torch.autograd.grad(losses.sum(), list(params.values()))
            clip_members(grads, member_grad_norms(grads), torch.ones(members))
            for p, g in zip(params.values(), grads):
                p.grad = g
            opt.step()
            return members * x.shape[0] * x.shape[1]

        return step

    singles = [population(1) for _ in range(n)]

    def one_at_a_time(x, y):
        return sum(s(x, y) for s in singles)

    steps = {"population": population(n), "one_at_a_time": one_at_a_time}
    ensemble = lambda: vmap_ensemble_step([PlainRNN(2, hidden, 1) for _ in range(n)], "mse")
    return f"lab adding T=50 tanh {hidden}", n, steps, ensemble, data, rounds


def first_pass(name: str, n: int, steps: dict, ensemble, inputs: list, rounds: int) -> dict:
    """The population interleaved with the same members trained one at a time."""
    rates, system = interleave(steps, inputs, rounds)
    out = {"case": name, "members": n, "member_frames_per_cpu_second": rates, "system_time_fraction": system,
           "speedup_vs_one_at_a_time": rates["population"] / rates["one_at_a_time"]}  # fmt: skip
    print(
        f"{name:30s} N={n:3d}  population {rates['population']:,.0f}  alone {rates['one_at_a_time']:,.0f} "
        f"member-frames/CPU-s: x{out['speedup_vs_one_at_a_time']:.2f} (system time {system['population']:.0%})"
    )
    return out


def second_pass(out: dict, steps: dict, ensemble, inputs: list, rounds: int) -> None:
    """The population interleaved with the torch.func ensemble, after every first pass: once torch.func has run in
    the process, the population's steps spend about 40 % of their CPU time in page faults (system time)."""
    rates, system = interleave({"population": steps["population"], "torch_func_ensemble": ensemble()}, inputs, rounds)
    out.update(second_pass_member_frames_per_cpu_second=rates, second_pass_system_time_fraction=system,
               speedup_vs_torch_func_ensemble=rates["population"] / rates["torch_func_ensemble"])  # fmt: skip
    print(
        f"{out['case']:30s} vs torch.func ensemble {rates['torch_func_ensemble']:,.0f}: "
        f"x{out['speedup_vs_torch_func_ensemble']:.2f} (system time {system['population']:.0%})"
    )


def compile_case(hidden: int = 32, n: int = 64, reps: int = 20) -> dict:
    """torch.compile of the lab population's forward + backward (adding, T = 50) against eager, CPU seconds per step."""
    task = make_task("adding", 50, 64, None, "")
    shape = Shape(task.input_size, hidden, task.output_size, "tanh")
    x, y = task.sample(20, torch.Generator().manual_seed(0))
    params = init_population(shape, list(range(n)))

    def grads(x, y):
        return torch.autograd.grad(task.loss(run(params, shape, x)[0], y).sum(), list(params.values()))

    def per_step(f) -> float:
        for _ in range(3):
            f(x, y)
        started = time.process_time()
        for _ in range(reps):
            f(x, y)
        return (time.process_time() - started) / reps

    eager = per_step(grads)
    started = time.perf_counter()
    compiled_fn = torch.compile(grads)
    compiled_fn(x, y)
    compile_seconds = time.perf_counter() - started
    compiled = per_step(compiled_fn)
    print(f"torch.compile, lab adding hidden {hidden} N={n}: eager {eager * 1e3:.1f} ms/step, compiled "
          f"{compiled * 1e3:.1f} ms/step after {compile_seconds:.0f} s of compilation")  # fmt: skip
    return {"case": f"torch.compile lab adding T=50 tanh {hidden}", "members": n, "eager_cpu_seconds_per_step": eager,
            "compiled_cpu_seconds_per_step": compiled, "compile_wall_seconds": compile_seconds}  # fmt: skip


def gemm_case(reps: int = 400) -> dict:
    """What batching can gain on the recurrent GEMM alone: one batched baddbmm h W^T over N members against N
    single ones (B × H times H × H, the benchmark's shapes), interleaved, CPU µs per call; and torch.rand per number."""

    def per_call(f, *args) -> float:
        f(*args)
        started = time.process_time()
        for _ in range(reps):
            f(*args)
        return (time.process_time() - started) / reps * 1e6

    shapes, rows = [(16, 4, 100), (8, 4, 100), (64, 20, 32), (64, 20, 128)], []
    for n, b, h in shapes:
        w, x, d = torch.randn(n, h, h).transpose(1, 2), torch.randn(n, b, h), torch.randn(n, b, h)
        w1, x1, d1 = w[:1], x[:1], d[:1]
        batched = single = 0.0
        for _ in range(4):
            batched += per_call(torch.baddbmm, d, x, w)
            single += n * per_call(torch.baddbmm, d1, x1, w1)
        rows.append({"members": n, "batch": b, "hidden": h, "batched_us": batched / 4, "n_single_us": single / 4,
                     "speedup": single / batched})  # fmt: skip
        print(f"recurrent GEMM N={n} B={b} H={h}: batched {batched / 4:.1f} us, {n} single {single / 4:.1f} us")
    uniform = per_call(torch.rand, 1 << 16) / (1 << 16) * 1e3
    print(f"torch.rand: {uniform:.2f} ns per number")
    return {"case": "recurrent GEMM batched vs single", "shapes": rows, "rand_ns_per_number": uniform}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="results/bench_population.json")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile of a lab step")
    parser.add_argument("--only", default="", help="comma-separated subset: rnn,nade,rbm,lab32,lab128")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    malloc_tuned = reuse_freed_memory()  # as a population run does; it helps both sides
    load_start = os.getloadavg()
    wanted = set(args.only.split(",")) if args.only else {"rnn", "nade", "rbm", "lab32", "lab128"}
    rolls = jsb_batches(4) if wanted & {"rnn", "nade", "rbm"} else []
    plans = []
    if "rnn" in wanted:
        plans.append(music_case("rnn", 16, args.rounds, rolls, rnn_hidden=100, cell="tanh"))
    if "nade" in wanted:
        plans.append(music_case("rnn-nade", 8, args.rounds, rolls, rnn_hidden=100, cond_hidden=150, cell="tanh"))
    if "rbm" in wanted:
        rbm = {"rnn_hidden": 100, "cond_hidden": 150, "cd_k": 15}
        plans.append(music_case("rnn-rbm", 8, max(2, args.rounds // 2), rolls, **rbm))
    for hidden in (32, 128):
        if f"lab{hidden}" in wanted:
            plans.append(lab_case(hidden, 64, args.rounds * 4))
    cases = [first_pass(*plan) for plan in plans]
    for out, (_, _, steps, ensemble, inputs, rounds) in zip(cases, plans):
        if ensemble is not None:
            second_pass(out, steps, ensemble, inputs, rounds)
    cases.append(gemm_case())
    if args.compile:
        cases.append(compile_case())
    result = {
        "command": "python scripts/bench_population.py "
        + " ".join(f"--{k}" if v is True else f"--{k} {v}" for k, v in vars(args).items() if v),
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_average_start": load_start,
        "load_average_end": os.getloadavg(), "machine": platform.platform(),
        "processor": platform.processor(), "torch": torch.__version__, "malloc_reuse": malloc_tuned, "cases": cases,
    }  # fmt: skip
    write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
