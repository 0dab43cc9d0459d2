"""Traffic tests reuse the analytics tests' clip helpers (`footage`: real pictures moved across a scene)."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parents[1] / "analytics"))
