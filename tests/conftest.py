"""Puts src/ on the import path, as `python src/main.py` does for the code itself."""
import os
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
