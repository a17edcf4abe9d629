"""A predictor defined here, in the test file alone, runs through main.py's own code path: its
option becomes a flag, reaches the predictor, is recorded in the rows and the run key, and is
refused with another predictor; its display name and table order come from the class."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from correlation_trainer.main import main
from correlation_trainer.predictors import PREDICTORS, Adaptation, FewShotPredictor
from correlation_trainer.predictors.base import PredictorOption, display_name, table_rank

NAME = "flops_power"
RUN = ["--task_index", "ND", "--num_trials", "1", "--transfer_sample_sizes", "5", "--no_progress"]


@pytest.fixture
def flops_power():
    """Register a predictor for the duration of one test."""

    @PREDICTORS.register(NAME)
    class FlopsPower(FewShotPredictor):
        """Scores every architecture by its FLOPs to the power ``--flops_exponent``."""

        name = NAME
        display_name = "FLOPs to a power"
        table_order = 75
        pretrains = False
        options = (PredictorOption("flops_exponent", 1.0, "exponent applied to the FLOPs", type=float),)

        def pretrain(self, archs, seq, progress):
            return None

        def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
            values = np.asarray(self.data.space.flops, dtype=np.float64) ** self.config.option("flops_exponent")
            return Adaptation([values[eval_archs]], sample_scores=values[archs])

    yield FlopsPower
    PREDICTORS.unregister(NAME)


def test_a_predictor_registered_in_a_test_runs_through_main(flops_power, tmp_path, capsys):
    assert main(["--predictor", NAME, "--out_dir", str(tmp_path), *RUN]) == 0
    assert main(["--predictor", NAME, "--flops_exponent", "-1", "--out_dir", str(tmp_path), *RUN]) == 0
    rows = pd.read_csv(tmp_path / NAME / "nb201_samp_eff.csv")
    assert sorted(rows["flops_exponent"].unique()) == [-1.0, 1.0]
    assert rows["run_key"].nunique() == 2  # the option is part of the run key
    by_exponent = rows.groupby("flops_exponent")["spr"].mean()
    assert by_exponent[1.0] > 0.5 and by_exponent[-1.0] == pytest.approx(-by_exponent[1.0])
    assert main(["--predictor", "flops", "--out_dir", str(tmp_path), *RUN]) == 0
    flops = pd.read_csv(tmp_path / "flops" / "nb201_samp_eff.csv")
    assert flops["spr"].mean() == pytest.approx(by_exponent[1.0])  # the same ranking as FLOPs
    assert "flops_exponent" not in flops.columns
    capsys.readouterr()


def test_its_option_is_refused_elsewhere_and_its_metadata_is_used(flops_power, tmp_path, capsys):
    status = main(["--predictor", "flops", "--flops_exponent", "2", "--out_dir", str(tmp_path), *RUN])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err == (f"error: --flops_exponent is an option of --predictor {NAME}; "
                                   "--predictor flops does not read it")
    assert display_name(NAME) == "FLOPs to a power"
    assert table_rank("closest_device") < table_rank(NAME) < table_rank("flops")


def test_the_registry_is_clean_again():
    assert NAME not in PREDICTORS
