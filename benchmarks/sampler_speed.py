"""How long each sampler takes to choose k architectures over a whole space (target for the design
samplers: 20 samples in under 1 s), the new-device way (``measure --sampler`` / ``--choose_samples``):
the prior-aware samplers fit their prior on every benchmark device of the space first, which is
included. The sequential sampler measures as it chooses; here a benchmark device's table stands in
for the timing, so the figure is the choosing alone.

    python benchmarks/sampler_speed.py [--k 20] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time


from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.samplers import choose_new_device_samples
from nas_embedding_suite.spaces import get_space

SAMPLERS = ("random", "flops", "doptimal", "doptimal_prior", "sequential")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20, help="samples to choose")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best is printed)")
    parser.add_argument("--data_dir", default=None, help="data directory")
    args = parser.parse_args()
    data_dir = DataDirectory.resolve(args.data_dir)
    print(f"| space | sampler | archs | k | best of {args.repeats} (s) |")
    print("|---|---|---|---|---|")
    for name in ("nb201", "fbnet"):
        space = get_space(name, data_dir)
        table = load_latency_table(space)
        stand_in = table.values[table.row("pixel2")]
        for sampler in SAMPLERS:
            times = []
            for repeat in range(args.repeats):
                start = time.perf_counter()
                choose_new_device_samples(space, args.k, sampler, seed=repeat,
                                          measure=lambda arch: float(stand_in[arch]))
                times.append(time.perf_counter() - start)
            print(f"| {name} | {sampler} | {space.num_archs} | {args.k} | {min(times):.3f} |")


if __name__ == "__main__":
    main()
