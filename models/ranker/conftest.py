"""pytest collects every module for doctests; the trainer's two need torch (extra ``train``).
Without it they are left out here, and tests/unit/ranker skips its trainer tests by name."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["net.py", "train.py"]
