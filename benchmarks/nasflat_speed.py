"""Time NASFLAT end to end on this machine and print wall time, peak memory and inference speed.

    python benchmarks/nasflat_speed.py [--skip-fbnet] [--data_dir DIR]

1. NB201 task ND with main.py's defaults (16 source archs, k = 5/10/20, 3 trials).
2. FBNet task FD: 800 source archs, adj_gin_zcp, k = 20, 1 trial.
3. Predicting all 15,625 NB201 architectures with one model.

Each run is a separate process; peak RSS is that process's maximum resident set size.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from main_timing import timed_run


def full_space_inference(data_dir) -> None:
    import numpy as np
    import torch

    from correlation_trainer.experiment import Experiment, ExperimentConfig
    from correlation_trainer.task_data import TaskData
    from correlation_trainer.training import predict
    from nas_embedding_suite.data_directory import DataDirectory
    from nas_embedding_suite.spaces import get_space
    from nas_embedding_suite.tasks import TaskSuite

    torch.set_num_threads(2)
    space = get_space("nb201", DataDirectory.resolve(data_dir))
    data = TaskData.build(TaskSuite.load().by_label("ND"), space)
    torch.manual_seed(0)
    model = Experiment(ExperimentConfig(), data, show_progress=False).predictor.build_model()
    archs = np.arange(space.num_archs)
    predict(model, data, archs[:100], 9)  # warm-up
    started = time.perf_counter()
    predict(model, data, archs, 9)
    print(f"predict all {space.num_archs} NB201 archs: {time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--skip-fbnet", action="store_true")
    args = parser.parse_args()
    common = ["--data_dir", args.data_dir] if args.data_dir else []
    with tempfile.TemporaryDirectory() as out:
        full_space_inference(args.data_dir)
        timed_run(common + ["--out_dir", out, "--name_desc", "nb201"], "NB201 ND, defaults")
        if not args.skip_fbnet:
            timed_run(common + ["--out_dir", out, "--name_desc", "fbnet", "--space", "fbnet",
                                "--task_index", "0", "--representation", "adj_gin_zcp",
                                "--transfer_sample_sizes", "20", "--num_trials", "1"],
                      "FBNet FD, 800 source archs, k=20, 1 trial")


if __name__ == "__main__":
    main()
