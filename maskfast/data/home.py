"""Where maskfast keeps what it makes once and reuses: the twin, image caches, face boxes ($MASKFAST_HOME)."""
__all__ = ['cache_home']

import os
from pathlib import Path

def cache_home():
    "Root of maskfast's caches: $MASKFAST_HOME or ~/.cache/maskfast."
    return Path(os.environ.get('MASKFAST_HOME', Path.home() / '.cache' / 'maskfast'))
