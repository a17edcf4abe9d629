"""Write the job lists of this folder (run from anywhere: ``python large_run_slurms/make_joblists.py``).

- ``unified_joblist.log``: the NASFLAT studies (spec sections 6-10): the 12-task headline, samplers,
  supplementary encodings, GNN type, hardware-embedding placement and transfer, source sample
  sizes (4-128 and 512), and from scratch (``--sample_sizes 0``).
- ``help_unified_joblist.log``, ``multipredict_unified_joblist.log``, ``references_joblist.log``:
  the HELP and MultiPredict baselines and the zero-shot references (FLOPs, params, closest source
  device) on the 12 tasks at k = 5, 10, 20, for the comparison table.
- ``encodings_joblist.log``: the supplementary encodings (none, zcp, arch2vec, CATE, CAZ with
  the CAZ sampler, 512 source archs) and the samplers (random, params, FLOPs, arch2vec, CATE, zcp,
  CAZ, latency) on the 12 tasks at k = 5 and 20, and the NB201 headline with everything on.
- ``search_joblist.log``: latency-constrained search (``correlation_trainer/search.py``): HELP's
  setting (5 devices x 3 budgets, CIFAR-100) for every predictor at k = 20 with ``--verify 5`` and
  at k = 10 without verification, 5 trials; and the wider test (every NB201 device, budgets at the
  10th, 25th and 50th percentile of its latencies, the three datasets, k = 20 with ``--verify 5``).
- ``samplers_joblist.log``: the design samplers (``doptimal``, ``doptimal_prior``, ``sequential``)
  beside each space's default sampler, for every few-shot predictor on the 12 tasks at k = 5, 10, 20.
- ``physics_joblist.log``: the cost-feature predictors (``roofline``, ``roofline_prior``, NASFLAT+)
  on the 12 tasks at k = 5, 10, 20, and NASFLAT+'s ablation (each part alone, and without the
  residual base) on the NB201 tasks. Studies are split by space where a space's lines cost far
  more (NASFLAT+ on FBNet pretrains like NASFLAT).

Each study starts with a ``# study: NAME`` line. Every study varies one thing from the headline
setting; an experiment that two studies share is the same command, so it has one id and runs once.
A line is marked False when it cannot run (the accuracy sampler outside NB201).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from nas_embedding_suite.spaces import list_spaces, space_class

HERE = Path(__file__).resolve().parent
TASKS = [("nb201", t) for t in range(6)] + [("fbnet", t) for t in range(6)]
#: Headline settings per space (spec section 9); --sample_sizes default: 16 (nb201), 800 (fbnet).
HEADLINE = {
    "nb201": {"--representation": "adj_gin", "--num_trials": "5", "--transfer_sample_sizes": "5 10 20"},
    "fbnet": {"--representation": "adj_gin_zcp", "--num_trials": "3", "--transfer_sample_sizes": "20"},
}
#: (MEM in MB, NTASKS) per space.
RESOURCES = {"nb201": (8000, 2), "fbnet": (16000, 2)}
SAMPLING_METRICS = ["random", "params", "flops", "latency", "accuracy"]
VECTOR_METRICS = ["zcp", "arch2vec", "cate", "a2vcatezcp"]
VECTOR_METHODS = ["kmeans", "cosine", "cosine_greedy", "kmeancosine"]
REPRESENTATIONS = ["adj_gin", "adj_gin_pf", "adj_gin_zcp", "adj_gin_arch2vec", "adj_gin_cate", "adj_gin_a2vcatezcp"]
SOURCE_SIZES = [4, 8, 16, 32, 64, 128, 512]
#: main.py defaults per space (the spaces' ``default_settings``): a change equal to one is left out,
#: so equal experiments are equal commands.
DEFAULTS = {
    space: {"--sampling_metric": values["sampling_metric"], "--sampling_method": "kmeancosine",
            "--gnn_type": "ensemble", "--sample_sizes": " ".join(map(str, values["sample_sizes"]))}
    for space, values in ((name, space_class(name).default_settings) for name in list_spaces())
}


def command(space: str, task: int, changes: Dict[str, str], flags: Tuple[str, ...] = ()) -> Tuple[str, bool]:
    """The headline command of (space, task) with ``changes``; and whether it can run today."""
    options = {"--space": space, "--task_index": str(task), **HEADLINE[space], **changes}
    metric = options.get("--sampling_metric", DEFAULTS[space]["--sampling_metric"])
    for name, value in DEFAULTS[space].items():
        if options.get(name) == value:
            del options[name]
    words = ["python", "correlation_trainer/main.py"]
    for name, value in options.items():
        words += [name] + value.split()
    words += list(flags) + ["--no_progress"]
    runnable = metric != "accuracy" or space_class(space).has_accuracies  # every encoding exists in both spaces
    return " ".join(words), runnable


def line(number: int, space: str, cmd: str, runnable: bool, ntasks: Optional[int] = None) -> str:
    """One job-list line; ``ntasks`` overrides the space's CPU count (the line's ``--threads``)."""
    mem, default_ntasks = RESOURCES[space]
    return f"{runnable},{number},False,{mem},{ntasks or default_ntasks},{cmd}"


def study_lines(studies, ntasks: Optional[Dict[str, int]] = None) -> List[str]:
    """Job lines numbered from 1 for ``(name, description, [(space, task, changes, flags)])`` studies;
    ``ntasks`` maps a study name to its lines' CPU count where it differs from the space's."""
    out, number = [], 0
    for name, description, runs in studies:
        out += ["", f"# study: {name}", f"# {description}"]
        for space, task, changes, flags in runs:
            number += 1
            out.append(line(number, space, *command(space, task, changes, flags), (ntasks or {}).get(name)))
    return out


def unified() -> List[str]:
    """The lines of unified_joblist.log."""
    studies: List[Tuple[str, str, List[Tuple[str, Dict[str, str], Tuple[str, ...]]]]] = []
    every = lambda changes, flags=(): [(s, t, changes, flags) for s, t in TASKS]  # noqa: E731
    studies.append(("headline", "NASFLAT on the 12 tasks (spec section 9): the README results table", every({})))
    sampler_runs = []
    for space, task in (("nb201", 0), ("fbnet", 0)):
        for metric in SAMPLING_METRICS:
            sampler_runs.append((space, task, {"--sampling_metric": metric}, ()))
        for metric in VECTOR_METRICS:
            for method in VECTOR_METHODS:
                sampler_runs.append((space, task, {"--sampling_metric": metric, "--sampling_method": method}, ()))
    studies.append(("samplers", "choice of the k target (and source) archs (spec section 6), tasks ND and FD", sampler_runs))
    studies.append(("encodings", "supplementary encodings (spec section 7)",
                    [run for rep in REPRESENTATIONS for run in every({"--representation": rep})]))
    studies.append(("gnn_type", "graph layer: dense, gat, ensemble (the headline)",
                    [run for gnn in ("dense", "gat", "ensemble") for run in every({"--gnn_type": gnn})]))
    studies.append(("hw_embedding", "hardware embedding op-wise (headline) or to the head; with and "
                    "without initialising the target's row from the closest source",
                    [run for flags in ((), ("--hwemb_to_mlp",), ("--no-transfer_hwemb",),
                                       ("--hwemb_to_mlp", "--no-transfer_hwemb")) for run in every({}, flags)]))
    studies.append(("source_sizes", "source archs per source device: 4-128 and 512",
                    [run for size in SOURCE_SIZES for run in every({"--sample_sizes": str(size)})]))
    studies.append(("from_scratch", "no pretraining: fine-tune an untrained model on the k samples",
                    every({"--sample_sizes": "0"})))
    studies.append(("few_shot_fbnet", "the FBNet headline at k = 5 and 10 (the comparison table); the "
                    "same pretraining as the headline lines, so after them only fine-tuning runs",
                    [("fbnet", task, {"--transfer_sample_sizes": "5 10"}, ()) for task in range(6)]))
    out = ["# NASFLAT job list: EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command> (written by make_joblists.py).",
           "# Lines that need an encoding: build it first with python -m nas_embedding_suite encode."]
    return out + study_lines(studies)


def baselines(predictors: List[str], sizes: Dict[str, str]) -> List[str]:
    """The lines of the baselines' job list: each predictor on the 12 tasks, k = 5, 10, 20, 3 trials
    (spec section 10); ``sizes`` gives the source archs per device (none for the references).
    FBNet lines use one thread: these small models gain little from a second one, and two lines
    then share a 2-core machine."""
    out = ["# Baselines (spec section 10): EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>.",
           "# Each baseline draws the same k target samples as NASFLAT's default run."]
    number = 0
    for predictor in predictors:
        out += ["", f"# study: {predictor}"]
        for space, task in TASKS:
            number += 1
            source = f" --sample_sizes {sizes[space]}" if sizes else ""
            cmd = (f"python correlation_trainer/main.py --predictor {predictor} --space {space} --task_index {task}"
                   f"{source} --transfer_sample_sizes 5 10 20 --num_trials 3 --no_progress")
            out.append(line(number, space, cmd, True, 1 if space == "fbnet" else None))
    return out


PLUS_ABLATION = [["cost"], ["nodes"], ["cost", "nodes", "base"], ["cost", "nodes"]]  # base alone is the default


def physics() -> List[str]:
    """The lines of the cost-feature predictors' job list (see the module docstring)."""
    out = ["# Cost-feature predictors: EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>.",
           "# Each draws the same k target samples as NASFLAT's default run."]
    number = 0
    base = "--transfer_sample_sizes 5 10 20 --num_trials 3 --no_progress"
    studies = [("roofline", "roofline", TASKS, [""]), ("roofline_prior", "roofline_prior", TASKS, [""])]
    for space in ("nb201", "fbnet"):
        spaced = [(s, t) for s, t in TASKS if s == space]
        studies.append((f"nasflat_plus_{space}", "nasflat_plus", spaced, [""]))
    studies.append(("plus_ablation", "nasflat_plus", [(s, t) for s, t in TASKS if s == "nb201"],
                    [" --plus_parts " + " ".join(parts) for parts in PLUS_ABLATION]))
    for study, predictor, tasks, variants in studies:
        out += ["", f"# study: {study}"]
        for variant in variants:
            for space, task in tasks:
                number += 1
                representation = " --representation adj_gin_zcp" if space == "fbnet" and predictor == "nasflat_plus" else ""
                cmd = (f"python correlation_trainer/main.py --predictor {predictor} --space {space} --task_index {task}"
                       f"{representation}{variant} {base}")
                out.append(line(number, space, cmd, True))
    return out


#: the design samplers, and the predictors they are measured with (cheapest first, so a partial run
#: of the job list covers whole predictors)
DESIGN_SAMPLERS = ["doptimal", "doptimal_prior", "sequential"]
SAMPLER_STUDY_PREDICTORS = ["roofline", "roofline_prior", "closest_device", "nasflat_plus", "nasflat", "help",
                            "multipredict"]
#: source archs per device of the baselines that take them (their job lists' values)
BASELINE_SOURCE_SIZES = {"help": {"nb201": "900", "fbnet": "4000"}, "multipredict": {"nb201": "900", "fbnet": "4000"}}


def samplers() -> List[str]:
    """The lines of the design samplers' job list: every predictor with each design sampler and with
    its space's default sampler (the reference), on the 12 tasks at k = 5, 10, 20, 3 trials. One study
    per (predictor, space); NASFLAT and NASFLAT+ take their headline representation per space."""
    out = ["# Design samplers (issue 33): EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>.",
           "# Each predictor with its space's default sampler (the reference) and with doptimal,",
           "# doptimal_prior and sequential; 3 trials, honest protocol."]
    number = 0
    for predictor in SAMPLER_STUDY_PREDICTORS:
        for space in ("nb201", "fbnet"):
            out += ["", f"# study: samplers_{predictor}_{space}"]
            default = space_class(space).default_settings["sampling_metric"]
            for metric in [default] + DESIGN_SAMPLERS:
                for task in range(6):
                    number += 1
                    extra = ""
                    if predictor in ("nasflat", "nasflat_plus"):
                        extra = f" --representation {HEADLINE[space]['--representation']}"
                    if predictor in BASELINE_SOURCE_SIZES:
                        extra = f" --sample_sizes {BASELINE_SOURCE_SIZES[predictor][space]}"
                    cmd = (f"python correlation_trainer/main.py --predictor {predictor} --space {space} "
                           f"--task_index {task}{extra} --sampling_metric {metric} --transfer_sample_sizes 5 10 20 "
                           "--num_trials 3 --no_progress")
                    out.append(line(number, space, cmd, True, 1 if space == "fbnet" else None))
    return out


ISSUE_REPRESENTATIONS = ["adj_gin", "adj_gin_zcp", "adj_gin_arch2vec", "adj_gin_cate", "adj_gin_a2vcatezcp"]
ISSUE_SAMPLERS = ["random", "params", "flops", "arch2vec", "cate", "zcp", "a2vcatezcp", "latency"]
#: The NB201 headline with everything on, and the changes measured against it (README).
ALL_ON = {"--representation": "adj_gin_a2vcatezcp", "--sampling_metric": "cate", "--transfer_sample_sizes": "20"}
RANDOM_MEMBER = {"--sampling_method": "kmeancosine_random"}
SUPP_DROPOUT = {"--supp_dropout": "0.5"}
HEAD_DROPOUT = {"--dropout": "0.05"}
SEED_1 = {"--seed": "1"}
SEED_2 = {"--seed": "2"}
ENSEMBLE_3 = {"--ensemble_size": "3"}


def encodings() -> List[str]:
    """The lines of the encodings' job list: supplementary encodings and samplers on the 12 tasks
    (k = 5 and 20, 3 trials), and the NB201 headline with everything on."""
    out = ["# Supplementary encodings and samplers (spec sections 6-7): EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>.",
           "# Needs the encodings built: python -m nas_embedding_suite encode --space nb201|fbnet --kind all"]
    studies = [
        ("supplementary", "representations none/zcp/arch2vec/cate/CAZ, CAZ kmeancosine sampler, 512 source archs",
         [(space, task, {"--representation": rep, "--sampling_metric": "a2vcatezcp", "--sample_sizes": "512",
                         "--transfer_sample_sizes": "5 20", "--num_trials": "3"}, ())
          for rep in ISSUE_REPRESENTATIONS for space, task in TASKS]),
        ("samplers_k", "choice of the k target archs on the 12 tasks, k = 5 and 20",
         [(space, task, {"--sampling_metric": metric, "--transfer_sample_sizes": "5 20", "--num_trials": "3"}, ())
          for metric in ISSUE_SAMPLERS for space, task in TASKS]),
        ("headline_all_on", "NB201 headline with every encoding: adj_gin_a2vcatezcp, cate sampler, k = 20",
         [("nb201", task, ALL_ON, ()) for task in range(6)]),
        ("all_on_regularised", "the same with random-member k-means picks and dropout 0.5 in the encoding MLP",
         [("nb201", task, {**ALL_ON, **RANDOM_MEMBER, **SUPP_DROPOUT}, ()) for task in range(6)]),
        ("all_on_parts", "each of those two changes alone",
         [("nb201", task, {**ALL_ON, **change}, ()) for change in (RANDOM_MEMBER, SUPP_DROPOUT) for task in range(6)]),
        ("samplers_random_member", "NB201 encoding samplers with random-member k-means picks, k = 5 and 20",
         [("nb201", task, {"--sampling_metric": metric, **RANDOM_MEMBER, "--transfer_sample_sizes": "5 20",
                           "--num_trials": "3"}, ()) for metric in VECTOR_METRICS for task in range(6)]),
        ("all_on_head_dropout", "all_on_regularised with dropout 0.05 in the head",
         [("nb201", task, {**ALL_ON, **RANDOM_MEMBER, **SUPP_DROPOUT, **HEAD_DROPOUT}, ()) for task in range(6)]),
        ("all_on_seed_1", "all_on_regularised and all_on_head_dropout with other draws (--seed 1)",
         [("nb201", task, {**ALL_ON, **RANDOM_MEMBER, **SUPP_DROPOUT, **head, **SEED_1}, ())
          for head in ({}, HEAD_DROPOUT) for task in range(6)]),
        ("all_on_ensemble", "all_on_head_dropout as an ensemble of 3 pretrainings, seeds 0, 1 and 2",
         [("nb201", task, {**ALL_ON, **RANDOM_MEMBER, **SUPP_DROPOUT, **HEAD_DROPOUT, **ENSEMBLE_3, **seed}, ())
          for seed in ({}, SEED_1, SEED_2) for task in range(6)]),
        ("all_on_seed_2", "all_on_head_dropout with --seed 2 (the single model beside all_on_ensemble)",
         [("nb201", task, {**ALL_ON, **RANDOM_MEMBER, **SUPP_DROPOUT, **HEAD_DROPOUT, **SEED_2}, ())
          for task in range(6)]),
    ]
    return out + study_lines(studies)


#: HELP's latency-constrained NAS setting (HELP, Table 4): task ND's targets and their budgets (ms)
HELP_BUDGETS = {"titan_rtx_256": "18 21 25", "gold_6226": "8 11 14", "pixel2": "14 18 22",
                "eyeriss": "5 7 9", "fpga": "4 5 6"}
SEARCH_PREDICTORS = ["roofline", "roofline_prior", "flops", "closest_device", "nasflat", "nasflat_plus",
                     "help", "multipredict"]
OBJECTIVES = ["cifar10", "cifar100", "imagenet16"]


def search_task(device: str) -> str:
    """A task label for a search on ``device``: ND unless the device is one of its sources, else
    the first NB201 task whose sources do not include it."""
    from nas_embedding_suite.tasks import TaskSuite

    tasks = [t for t in TaskSuite.load().tasks if t.space == "nb201" and t.index < 100]
    for task in sorted(tasks, key=lambda t: t.label != "ND"):
        if device not in task.train:
            return task.label
    raise ValueError(f"every NB201 task has {device} among its sources")


def search() -> List[str]:
    """The lines of the search job list (see the module docstring)."""
    from nas_embedding_suite.devices import list_devices

    out = ["# Latency-constrained search: EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>.", ""]
    number = 0
    base = "python correlation_trainer/search.py --space nb201 --objective {objective} --num_trials 5 --no_progress"
    for study, description, k, verify in (
            ("help_setting_k20_verify5", "HELP's 5 devices x 3 budgets, CIFAR-100, k = 20, --verify 5", 20, 5),
            ("help_setting_k10", "HELP's 5 devices x 3 budgets, CIFAR-100, k = 10, no verification", 10, 0)):
        out += [f"# study: {study}", f"# {description}"]
        for predictor in SEARCH_PREDICTORS:
            for device, budgets in HELP_BUDGETS.items():
                number += 1
                words = (base.format(objective="cifar100") + f" --task_index ND --target_device {device} "
                         f"--latency_budget {budgets} --predictor {predictor} --k {k}"
                         + (f" --verify {verify}" if verify else "") + f" --name_desc {study}_{predictor}_{device}")
                out.append(f"True,{number},False,8000,2,{words}")
        out.append("")
    out += ["# study: wider", "# every NB201 device, budgets at its 10th/25th/50th latency percentile, 3 datasets, "
            "k = 20, --verify 5"]
    for predictor in ("roofline", "roofline_prior", "flops"):
        for device in list_devices("nb201"):
            for objective in OBJECTIVES:
                number += 1
                words = (base.format(objective=objective) + f" --task_index {search_task(device.name)} "
                         f"--target_device {device.name} --budget_percentiles 10 25 50 --predictor {predictor} "
                         f"--k 20 --verify 5 --name_desc wider_{predictor}_{device.name}_{objective}")
                out.append(f"True,{number},False,8000,2,{words}")
    return out


def main() -> None:
    """Write the job lists."""
    files = {
        "unified_joblist.log": unified(),
        "help_unified_joblist.log": baselines(["help"], {"nb201": "900", "fbnet": "4000"}),
        "multipredict_unified_joblist.log": baselines(["multipredict"], {"nb201": "900", "fbnet": "4000"}),
        "references_joblist.log": baselines(["flops", "params", "closest_device"], {}),
        "physics_joblist.log": physics(),
        "encodings_joblist.log": encodings(),
        "search_joblist.log": search(),
        "samplers_joblist.log": samplers(),
    }
    for name, lines in files.items():
        (HERE / name).write_text("\n".join(lines) + "\n")
        print(f"{name}: {sum(1 for l in lines if l[:1] in 'TF' and ',' in l)} lines")


if __name__ == "__main__":
    main()
