"""Where each file of the data directory comes from, so that users elsewhere can fetch it.

Every file is an unmodified copy of a file in a public GitHub repository at a fixed commit, except
``nas-without-training/results/arch_score_acc.csv``, a CSV conversion of that repository's pandas
pickle ``arch_score_acc.pd``. Files are verified against ``SHA256SUMS`` after download.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional
from urllib.parse import quote


@dataclass(frozen=True)
class Origin:
    """A folder of the data directory and the repository folder it mirrors."""

    local_prefix: str  # folder inside the data directory, ending in '/'
    repository: str  # owner/name on GitHub
    commit: str
    remote_prefix: str  # folder inside the repository, ending in '/' (or '' for the root)
    licence: str

    def url_for(self, local_path: str) -> str:
        """Download address of ``local_path`` (a path relative to the data directory)."""
        remote = self.remote_prefix + local_path[len(self.local_prefix):]
        return f"https://github.com/{self.repository}/raw/{self.commit}/{quote(remote)}"


ORIGINS: List[Origin] = [
    Origin("HELP/data/", "HayeonLee/HELP", "45f70eb92d0d735970a33b608d1544ad3c52f285", "data/", "MIT"),
    Origin(
        "LatBench/",
        "ZengYuXiang7/NAS-LLM-GNN",
        "46d3713c591ea41ce7a2107b4e1fe8aa99925c04",
        "archived/浩轩师兄已有工作/算力估计/drive/",
        "Apache-2.0 (eagle)",
    ),
    Origin("nasflat_latency/", "abdelfattah-lab/nasflat_latency", "8292434", "", "not stated"),
    Origin("NASLib/", "automl/NASLib", "6639fd15", "", "Apache-2.0"),
    Origin("nats-bench-landscape/", "v-tao/nats-bench-landscape", "b307ae5f", "", "not stated"),
    Origin("nas-without-training/", "BayesWatch/nas-without-training", "a1aa24c2", "", "MIT"),
]

# The one file that is a conversion rather than a copy: local CSV <- remote pandas pickle.
CONVERTED_FILES = {
    "nas-without-training/results/arch_score_acc.csv": "nas-without-training/results/arch_score_acc.pd",
}


def origin_of(local_path: str) -> Optional[Origin]:
    """The :class:`Origin` whose folder holds ``local_path``, or None."""
    for origin in ORIGINS:
        if local_path.startswith(origin.local_prefix):
            return origin
    return None


def describe_origin(local_path: str) -> str:
    """A short human description of where ``local_path`` can be obtained."""
    origin = origin_of(local_path)
    if origin is None:
        return "see the data README"
    remote = origin.remote_prefix + local_path[len(origin.local_prefix):]
    return f"github.com/{origin.repository} at {origin.commit}, {remote}"
