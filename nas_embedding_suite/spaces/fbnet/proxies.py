"""FBNet's 13 zero-cost proxies: NASFLAT's published file, matched to HELP's architectures."""
from __future__ import annotations

import json

import numpy as np

from ...errors import DataError
from ...zero_cost_proxies import ZCP_NAMES

FBNET_ZCP_FILE = "nasflat_latency/fbnet_zcp/zc_fbnet.json"


def read_fbnet_zcp(space) -> np.ndarray:
    """Raw proxies [5000, 13] of FBNet in ``arch.pt`` order, matched by the choice-id key."""
    path = space.data_dir.file(FBNET_ZCP_FILE)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {' '.join(str(exc).split())[:120]}") from None
    raw = np.full((space.num_archs, len(ZCP_NAMES)), np.nan)
    for key, proxies in records.items():
        index = space.index_of_key(key)
        if index < 0:
            continue
        try:
            raw[index] = [float(proxies[n]) for n in ZCP_NAMES]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: entry {key} lacks one of the 13 proxies") from None
    if np.isnan(raw).any():
        missing = int(np.isnan(raw).any(axis=1).sum())
        raise DataError(f"{path} has no (finite) proxies for {missing} FBNet architectures")
    return raw
