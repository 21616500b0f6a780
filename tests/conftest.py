import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "policies") not in sys.path:
    sys.path.insert(0, str(ROOT / "policies"))

# The gate remembers its policy-config checks on disk (preflight/analyzer.py CACHE_ENV, by
# default ~/.cache): tests keep theirs in a directory of their own, removed at exit.
if "PREFLIGHT_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="preflight-cache-")
    os.environ["PREFLIGHT_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)
