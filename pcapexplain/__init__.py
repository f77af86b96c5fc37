"""pcapexplain: rebuild every TCP connection in a capture and explain what each packet did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Analysis", "__version__", "analyse"]

if TYPE_CHECKING:
    from pcapexplain.api import Analysis, analyse


def __getattr__(name: str) -> Any:
    # Lazy, so that `import pcapexplain` (and the CLI's --version) stays fast.
    if name in ("analyse", "Analysis"):
        from pcapexplain import api

        return getattr(api, name)
    raise AttributeError(f"module 'pcapexplain' has no attribute {name!r}")
